"""What happened in one simulated call, on one clock: who spoke when and said what, the thinker's
tasks and the moments worth marking. Built by the run from the audio endpoints and the call's
events (:func:`agent_speech`, :func:`task_spans`); read by the transcript, the timeline picture,
the checks and the metrics.

Times are seconds since the call started.

How each stretch of agent audio gets its text
---------------------------------------------
A stretch is one playback segment of the agent's speaker (:class:`AgentAudio`). It is matched to
the message whose generation it played, never to whatever text came near it in time:

- LiveKit stores every reply that played as a conversation item once it stops, cut off or not,
  stamped with the instant its first audio frame played (``metrics.started_speaking_at``, the
  instant the speaker itself reported). The run records these as ``session`` /
  ``conversation_item_added`` events with ``spoke_at`` and ``spoke_until`` on the call clock. The
  stretch that starts at a message's ``spoke_at`` (within :data:`MATCH_TOLERANCE_S`: the two
  clocks' rounding) is that message's. The messages of one generation (one first frame) take its
  stretches in order; a message that played as several stretches has its text shared out between
  them by their audio.
- What a stretch was for (``ack``, ``filler``, ``result``, ...) and which tasks it spoke for come
  from the floor: a ``floor_requested`` event is followed, in the same synchronous call, by the
  ``speech_created`` of the speech it asked for, and that speech's ``speech_done`` lists its
  messages. Speech the floor did not ask for is a ``reply``. Where the events do not say (no
  message was stored), the run's live guess stands (:attr:`AgentAudio.kind`).
- A cut-off stretch carries the text LiveKit stored for it: in a room, the transcript synchronised
  to the audio (what was heard); without one, as here, everything generated before the cut, often
  the whole line. :attr:`Speech.heard` is the share of the stretch's audio that played (played /
  synthesized), and :attr:`Speech.heard_text` the text in that share, rounded up to a whole word:
  an estimate that assumes an even speaking rate and a line synthesized ahead of its playout (the
  offline voice is ~100x real time; a voice still synthesizing at the cut makes it too high).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Speaker = Literal["caller", "agent"]

MarkKind = Literal[
    "interruption", "dead_air", "talk_over", "stale", "filler", "nudge", "stage", "guardrail"
]

MATCH_TOLERANCE_S = 0.05
"""Largest gap between a message's first frame and its stretch's start (both are the same
instant, read on the wall clock and on the monotonic clock)."""

FLOOR_KINDS = {
    "ack": "ack",
    "filler": "filler",
    "result": "result",
    "late_notice": "notice",
    "failure": "notice",
    "nudge": "nudge",
}
"""The floor's utterance kinds as speech kinds (others keep their name)."""


@dataclass(frozen=True)
class Speech:
    """One stretch of audio from one side.

    ``kind`` says what it was: for the caller ``line`` or ``backchannel``; for the agent
    ``reply`` (an answer to the caller), ``filler``, ``ack``, ``result``, ``notice`` or ``nudge``
    where the call's events tell which. ``text``: what was being said (for a cut-off line,
    everything the speaker had to say in it; see :attr:`heard_text`). ``interrupted``: cut off
    before its end. ``heard``: the share of its audio that played (1.0 unless cut off).
    ``tasks``: the delegated tasks an agent stretch spoke for (by number).
    """

    who: Speaker
    start: float
    end: float
    text: str
    kind: str = "line"
    interrupted: bool = False
    heard: float = 1.0
    tasks: tuple[int, ...] = ()

    @property
    def duration(self) -> float:
        """Seconds of audio."""
        return self.end - self.start

    @property
    def heard_text(self) -> str:
        """The words that played: all of :attr:`text`, or for a cut-off line the share
        :attr:`heard` of it (an estimate; a word under way at the cut counts as heard)."""
        return _leading(self.text, self.heard)


@dataclass(frozen=True)
class AgentAudio:
    """One playback segment of the agent, as the run measured it (call clock)."""

    start: float
    """Its first sample."""
    end: float
    """Its last sample heard."""
    played_s: float
    """Seconds of it that played."""
    synthesized_s: float
    """Seconds of audio the speaker had received for it."""
    interrupted: bool = False
    kind: str = "reply"
    """What the run guessed live (the kind of the floor's last request before it started)."""
    tasks: tuple[int, ...] = ()


@dataclass(frozen=True)
class TaskSpan:
    """One delegated task: from submission to its end (``ended`` is None if it never ended)."""

    number: int
    request: str
    submitted: float
    ended: float | None
    outcome: str
    """``answered``, ``failed``, ``expired``, ``superseded``, ``cancelled`` or ``open``."""


@dataclass(frozen=True)
class Mark:
    """A moment (or, with ``seconds``, a stretch starting at ``t``) worth showing."""

    t: float
    kind: MarkKind
    seconds: float = 0.0
    label: str = ""


@dataclass
class CallRecord:
    """One call, ready to be drawn, written or measured."""

    scenario: str
    duration: float
    speech: list[Speech] = field(default_factory=list)
    tasks: list[TaskSpan] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)

    def said_by(self, who: Speaker) -> list[Speech]:
        """``who``'s speech in time order."""
        return sorted((s for s in self.speech if s.who == who), key=lambda s: s.start)


@dataclass(frozen=True)
class _Message:
    id: str
    text: str
    spoke_at: float
    spoke_until: float


def agent_speech(audio: Sequence[AgentAudio], events: Iterable[Mapping[str, Any]]) -> list[Speech]:
    """Each stretch of agent ``audio`` as :class:`Speech`, with the text, kind and tasks of the
    message it played (see the module's docstring for how a stretch finds its message)."""
    events = list(events)
    owners = _message_owners(events)
    parts = _texts_by_stretch(audio, _agent_messages(events))
    speech: list[Speech] = []
    for index, stretch in enumerate(audio):
        message_id, text = parts.get(index, (None, ""))
        kind, tasks = stretch.kind, stretch.tasks
        if message_id is not None and message_id in owners:
            kind, tasks = owners[message_id]
        heard = 1.0
        if stretch.interrupted and stretch.synthesized_s > 0:
            heard = min(1.0, stretch.played_s / stretch.synthesized_s)
        speech.append(
            Speech(
                "agent",
                stretch.start,
                stretch.end,
                text,
                kind,
                stretch.interrupted,
                heard=round(heard, 3),
                tasks=tasks,
            )
        )
    return speech


def task_spans(
    events: Iterable[Mapping[str, Any]], requests: Mapping[int, str], duration: float
) -> list[TaskSpan]:
    """Each delegated task from the responder's events: submitted, then its first end
    (``task_answer`` with ``final``, ``task_failed`` or ``task_stopped``)."""
    spans: dict[int, dict[str, Any]] = {}
    for e in events:
        number = e.get("task")
        if e.get("event") == "task_submitted" and isinstance(number, int):
            spans[number] = {"submitted": e["t"], "ended": None, "outcome": "open"}
        elif isinstance(number, int) and number in spans and spans[number]["ended"] is None:
            if e.get("event") == "task_answer" and e.get("final"):
                spans[number].update(ended=e["t"], outcome="answered")
            elif e.get("event") == "task_failed":
                spans[number].update(ended=e["t"], outcome=str(e.get("outcome", "failed")))
            elif e.get("event") == "task_stopped":
                spans[number].update(ended=e["t"], outcome=str(e.get("state", "cancelled")))
    return [
        TaskSpan(n, requests.get(n, ""), s["submitted"], s["ended"], s["outcome"])
        for n, s in sorted(spans.items())
        if s["submitted"] <= duration
    ]


def _agent_messages(events: Iterable[Mapping[str, Any]]) -> list[_Message]:
    """The agent's stored messages that played, from ``conversation_item_added`` events."""
    found: list[_Message] = []
    for e in events:
        data = e.get("data")
        if e.get("event") != "conversation_item_added" or not isinstance(data, Mapping):
            continue
        spoke_at, spoke_until = data.get("spoke_at"), data.get("spoke_until")
        if data.get("role") != "assistant" or not isinstance(spoke_at, int | float):
            continue
        until = spoke_until if isinstance(spoke_until, int | float) else spoke_at
        found.append(_Message(str(data.get("id")), str(data.get("text") or ""), spoke_at, until))
    return sorted(found, key=lambda m: m.spoke_at)


def _message_owners(events: Sequence[Mapping[str, Any]]) -> dict[str, tuple[str, tuple[int, ...]]]:
    """Message id → (speech kind, task numbers): what the floor asked each speech for."""
    by_speech: dict[str, tuple[str, tuple[int, ...]]] = {}
    asked: list[Mapping[str, Any]] = []
    owners: dict[str, tuple[str, tuple[int, ...]]] = {}
    for e in events:
        name, data = e.get("event"), e.get("data")
        if name == "floor_requested" and e.get("source") == "responder":
            if asked and abs(float(e["t"]) - float(asked[-1]["t"])) > MATCH_TOLERANCE_S:
                asked = []  # a request that never became speech (the session was closing)
            asked.append(e)
        elif name == "speech_created" and isinstance(data, Mapping):
            speech = str(data.get("speech"))
            # the floor asks and the session creates the speech in one synchronous call
            if asked and abs(float(e["t"]) - float(asked[-1]["t"])) <= MATCH_TOLERANCE_S:
                kind = str(asked[0].get("kind"))
                tasks = sorted({int(n) for a in asked for n in a.get("tasks") or ()})
                by_speech[speech] = (FLOOR_KINDS.get(kind, kind), tuple(tasks))
            asked = []
        elif name == "speech_done" and isinstance(data, Mapping):
            owner = by_speech.get(str(data.get("speech")), ("reply", ()))
            for message in data.get("messages") or ():
                owners[str(message)] = owner
    return owners


def _texts_by_stretch(
    audio: Sequence[AgentAudio], messages: Sequence[_Message]
) -> dict[int, tuple[str, str]]:
    """Stretch index → (message id, its text in that stretch)."""
    generations: list[list[_Message]] = []
    for message in messages:  # one generation: the messages that share a first frame
        if generations and message.spoke_at - generations[-1][0].spoke_at <= MATCH_TOLERANCE_S:
            generations[-1].append(message)
        else:
            generations.append([message])
    order = sorted(range(len(audio)), key=lambda i: audio[i].start)
    anchors: dict[int, list[_Message]] = {}
    for generation in generations:
        first = generation[0].spoke_at
        near = [
            i
            for i in order
            if i not in anchors and abs(audio[i].start - first) <= MATCH_TOLERANCE_S
        ]
        if near:
            anchors[min(near, key=lambda i: abs(audio[i].start - first))] = generation
    parts: dict[int, tuple[str, str]] = {}
    claimed = set(anchors)
    for anchor, generation in sorted(anchors.items(), key=lambda item: audio[item[0]].start):
        until = max(m.spoke_until for m in generation) + MATCH_TOLERANCE_S
        stretches = [anchor]  # then any later stretch of it, before it stopped speaking
        for i in order:
            if i not in claimed and audio[anchor].start < audio[i].start <= until:
                stretches.append(i)
                claimed.add(i)
        # the generation's messages in order; any further stretch is its last message's
        owner = [generation[min(n, len(generation) - 1)] for n in range(len(stretches))]
        for message in generation:
            mine = [i for i, m in zip(stretches, owner, strict=True) if m is message]
            weights = [audio[i].synthesized_s for i in mine]
            for i, text in zip(mine, _share_out(message.text, weights), strict=True):
                parts[i] = (message.id, text)
    return parts


def _share_out(text: str, weights: Sequence[float]) -> list[str]:
    """``text`` cut at word boundaries into ``len(weights)`` consecutive parts, sized by weight
    (the audio each part had)."""
    if len(weights) <= 1:
        return [text] * len(weights)
    if sum(weights) <= 0:
        weights = [1.0] * len(weights)
    total, reached, start = sum(weights), 0.0, 0
    parts: list[str] = []
    for weight in weights[:-1]:
        reached += weight
        end = max(start, len(_leading(text, reached / total)))
        parts.append(text[start:end].strip())
        start = end
    return [*parts, text[start:].strip()]


def _leading(text: str, share: float) -> str:
    """The first ``share`` of ``text`` by length, finishing the word under way."""
    if share >= 1.0:
        return text
    if share <= 0.0:
        return ""
    cut = math.ceil(len(text) * share)
    while cut < len(text) and not text[cut].isspace():
        cut += 1
    return text[:cut].rstrip()
