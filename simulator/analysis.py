"""What the caller felt, measured from the recording itself: the simulator knows to the sample
when each caller line ended and when agent audio started, so these figures need no VAD estimate.

A caller *turn* is a caller line that is not a backchannel; it lasts until the caller's next turn
starts. A delegated task belongs to the latest turn that had started at least
:data:`TASK_REACTION_S` before the task was submitted (no agent can act on words it has not
heard); a turn with tasks is *delegated*.

- **First audio**: a turn's end (the caller's last sample) to the first agent audio that starts
  after it and before the caller's next turn, by turn type: ``direct`` (answered by the
  responder), ``delegated`` (the turn started a thinker task: this is the acknowledgement),
  ``after_interruption`` (the caller cut into the agent; such a turn may be delegated too).
- **First relevant answer** (delegated turns; the time to first relevant response as Sierra
  defines it): a turn's end to the first audio of the answer, the first agent stretch of kind
  ``result`` that speaks for one of the turn's tasks (a first fact or the whole answer; a
  stretch that names no task is taken if it starts before the caller's next turn).
  Acknowledgements, fillers and notices are not answers. By turn type, ``delegated`` and
  ``after_interruption``. A turn whose tasks were all superseded or cancelled (a later
  correction took over: the answer belongs to that turn) owes no answer of its own and is left
  out; a turn that owed one and never got it counts in ``unanswered_delegated``.
- **First filler**: end of a delegated turn to the first filler before the caller's next turn.
- **Dead air**: each silence (no audio from either side) during which the caller is owed
  something, beyond its first :data:`DEAD_AIR_GRACE_S`. The caller is owed
  - an answer to a turn: from its end until the agent's first audio after it. If the caller
    speaks again first, the turn was not over (a pause mid-sentence) and owes nothing; if it is
    the call's last turn and never answered, it is owed until the call ends;
  - the outcome of a task: from its submission until the agent starts saying it (the first
    ``result`` stretch for it, or the ``notice`` after it failed); where no stretch names the
    task, until the first agent audio after the task ended. A superseded or cancelled task is
    owed only until it ended; a task still open when the call ends, until the end.
  Nothing is owed after the caller or the agent hung up (``caller``/``hang_up``, or the
  responder's ``call_ended`` before the simulator ended the call). So silence after the last
  exchange, with every turn answered and every task told (the scenario's tail), is not dead air.
- **Talk-over**: agent audio that starts while the caller is speaking and has been for at least
  :data:`TALK_OVER_ONSET_S`: the caller's line started at or before ``start - onset`` and ends
  after ``start``. Agent audio starting within the onset of the caller's first sample is a
  simultaneous start (both began together; no agent could have heard the caller yet), not the
  agent talking over the caller; whether the agent then gives way is the barge-in's business.
  Its length is the overlap with that line.
- **Duplicate results**: a task's answer spoken to the end more than once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from responder.metrics import percentiles
from responder.session.journal import STAGE_SOURCES
from simulator.record import CallRecord, Mark, Speech, TaskSpan

DEAD_AIR_GRACE_S = 1.0
"""Silence a caller who is owed something accepts before it counts as dead air."""
TALK_OVER_ONSET_S = 0.3
"""How long the caller must have been speaking before agent audio that starts counts as talking
over them: speech detection needs about 0.1 s of speech, and audio already on its way when the
caller began cannot be taken back; starts that close are heard as starting together."""
TASK_REACTION_S = 0.5
"""Least time from the start of a caller's words to a task delegated for them."""

_NOT_OWED = ("superseded", "cancelled")
Span = tuple[float, float]


@dataclass(frozen=True)
class Turn:
    """One caller turn, the agent's first audio after it and, if delegated, its first answer."""

    ended: float
    type: str
    first_audio_s: float | None
    first_filler_s: float | None
    tasks: tuple[int, ...] = ()
    """The tasks delegated for it (by number)."""
    first_answer_s: float | None = None
    """End of turn to the first audio of its answer (delegated turns)."""
    answer_owed: bool = False
    """Delegated, and not every task of it was superseded or cancelled."""
    last: bool = False
    """The call's last turn."""

    @property
    def delegated(self) -> bool:
        """The turn started at least one task."""
        return bool(self.tasks)


def turns(record: CallRecord, events: Sequence[dict[str, Any]]) -> list[Turn]:
    """The caller's turns (backchannels are not turns) with their answer times."""
    caller = [s for s in record.said_by("caller") if s.kind != "backchannel"]
    agent = record.said_by("agent")
    owners = _task_owners(caller, events)
    outcomes = {task.number: task.outcome for task in record.tasks}
    found: list[Turn] = []
    for index, line in enumerate(caller):
        last = index + 1 == len(caller)
        horizon = record.duration if last else caller[index + 1].start
        later = [s for s in agent if line.end <= s.start < horizon]
        tasks = tuple(n for n, owner in owners.items() if owner == index)
        interrupting = any(s.start < line.start < s.end for s in agent)
        kind = "after_interruption" if interrupting else "delegated" if tasks else "direct"
        filler = next((s for s in later if s.kind == "filler"), None)
        owed = bool(tasks) and any(outcomes.get(n) not in _NOT_OWED for n in tasks)
        answer = _answer(agent, line, tasks, horizon) if owed else None
        found.append(
            Turn(
                ended=line.end,
                type=kind,
                first_audio_s=later[0].start - line.end if later else None,
                first_filler_s=filler.start - line.end if filler and tasks else None,
                tasks=tasks,
                first_answer_s=answer.start - line.end if answer is not None else None,
                answer_owed=owed,
                last=last,
            )
        )
    return found


def talk_over(record: CallRecord) -> list[Mark]:
    """Agent audio that started while the caller had been speaking for at least
    :data:`TALK_OVER_ONSET_S`, as marks (with the overlap)."""
    caller = record.said_by("caller")
    marks: list[Mark] = []
    for speech in record.said_by("agent"):
        for line in caller:
            if line.start + TALK_OVER_ONSET_S <= speech.start < line.end:
                overlap = min(line.end, speech.end) - speech.start
                marks.append(Mark(speech.start, "talk_over", overlap, speech.text[:40]))
                break
    return marks


def owed(
    record: CallRecord, turn_list: Sequence[Turn], *, until: float | None = None
) -> list[Span]:
    """When the caller was owed something (see the module's docstring), merged; ``until``: when
    the call ended for the caller (a hang-up), if before the record's end."""
    end = record.duration if until is None else min(until, record.duration)
    agent = record.said_by("agent")
    spans: list[Span] = []
    for turn in turn_list:
        if turn.first_audio_s is not None:
            spans.append((turn.ended, turn.ended + turn.first_audio_s))
        elif turn.last:
            spans.append((turn.ended, end))
    spans += [(task.submitted, _told(task, agent, end)) for task in record.tasks]
    return _merge([(start, min(stop, end)) for start, stop in spans])


def dead_air(
    record: CallRecord, turn_list: Sequence[Turn], *, until: float | None = None
) -> list[Mark]:
    """Silences beyond the grace while the caller was owed something, as marks (``until``: see
    :func:`owed`)."""
    sound = [(s.start, s.end) for s in record.speech]
    marks: list[Mark] = []
    for start, stop in _subtract(owed(record, turn_list, until=until), sound):
        if stop - start > DEAD_AIR_GRACE_S:
            seconds = round(stop - start - DEAD_AIR_GRACE_S, 3)
            marks.append(Mark(start + DEAD_AIR_GRACE_S, "dead_air", seconds))
    return marks


def hung_up(events: Sequence[dict[str, Any]]) -> float | None:
    """When the caller hung up or the agent ended the call, if either did."""
    times = [
        float(e["t"])
        for e in events
        if (e.get("source"), e.get("event")) in (("caller", "hang_up"), ("responder", "call_ended"))
    ]
    return min(times, default=None)


def duplicate_results(events: Sequence[dict[str, Any]]) -> int:
    """Task answers spoken in full more than once (re-speaking a cut-off answer is not one)."""
    spoken = Counter(
        tuple(e.get("tasks") or ())
        for e in events
        if e.get("event") == "floor_spoken" and e.get("kind") == "result"
    )
    return sum(count - 1 for tasks, count in spoken.items() if tasks and count > 1)


def summarize(
    record: CallRecord, events: Sequence[dict[str, Any]], responder: dict[str, Any]
) -> dict[str, Any]:
    """Every figure of one call as JSON-able values (``responder``: its own call summary)."""
    turn_list = turns(record, events)
    first_audio = _by_type((t.type, t.first_audio_s) for t in turn_list)
    first_answer = _by_type((t.type, t.first_answer_s) for t in turn_list if t.answer_owed)
    fillers = [t.first_filler_s for t in turn_list if t.first_filler_s is not None]
    overs = talk_over(record)
    silences = dead_air(record, turn_list, until=hung_up(events))
    return {
        "duration_s": round(record.duration, 3),
        "turns": len(turn_list),
        "unanswered_turns": sum(1 for t in turn_list if t.first_audio_s is None),
        "first_audio_s": {kind: percentiles(values) for kind, values in first_audio.items()},
        "first_audio_samples": _rounded(first_audio),
        "first_answer_s": {kind: percentiles(values) for kind, values in first_answer.items()},
        "first_answer_samples": _rounded(first_answer),
        "unanswered_delegated": sum(
            1 for t in turn_list if t.answer_owed and t.first_answer_s is None
        ),
        "first_filler_s": percentiles(fillers),
        "dead_air_s": round(sum(m.seconds for m in silences), 3),
        "talk_over": {"count": len(overs), "seconds": round(sum(m.seconds for m in overs), 3)},
        "stale_suppressed": int(responder.get("stale_suppressed", 0)),
        "respoken": int(responder.get("respoken", 0)),
        "duplicate_results": duplicate_results(events),
        "tasks": dict(Counter(task.outcome for task in record.tasks)),
        "responder": responder,
    }


def marks_for(record: CallRecord, events: Sequence[dict[str, Any]]) -> list[Mark]:
    """The marks a record should carry: interruptions, talk-over, dead air, stale results."""
    agent = record.said_by("agent")
    marks = [
        Mark(line.start, "interruption", 0.0, line.text[:40])
        for line in record.said_by("caller")
        if line.kind != "backchannel" and any(s.start < line.start < s.end for s in agent)
    ]
    marks += talk_over(record)
    marks += dead_air(record, turns(record, events), until=hung_up(events))
    marks += [
        Mark(e["t"], "stale", 0.0, f"task #{e.get('task')}")
        for e in events
        if e.get("event") == "stale_suppressed"
    ]
    marks += session_marks(events)
    return sorted(marks, key=lambda m: m.t)


def session_marks(events: Sequence[dict[str, Any]]) -> list[Mark]:
    """The session's stages (wrap-up, goodbye, idle close, hard stop...) and guardrail hits as
    marks: they are in the call's transcript and on its timeline. A nudge is left out (its
    speech is already there)."""
    marks: list[Mark] = []
    for e in events:
        source, name = e.get("source"), str(e.get("event"))
        if source not in STAGE_SOURCES or name in ("nudge", "nudge_suppressed"):
            continue
        if source == "guardrail" and name == "hit":
            label = f"{e.get('side')} {e.get('rule')}: {e.get('action')}"
            marks.append(Mark(float(e["t"]), "guardrail", 0.0, label))
        else:
            marks.append(Mark(float(e["t"]), "stage", 0.0, f"{source} {name.replace('_', ' ')}"))
    return marks


def _task_owners(caller: Sequence[Speech], events: Sequence[dict[str, Any]]) -> dict[int, int]:
    """Task number → index of the caller turn it was delegated for."""
    owners: dict[int, int] = {}
    submitted = [e for e in events if e.get("event") == "task_submitted"]
    for order, event in enumerate(submitted):
        number = event.get("task")
        key = number if isinstance(number, int) else -1 - order  # hand-made events may omit it
        heard = float(event["t"]) - TASK_REACTION_S
        started = [index for index, line in enumerate(caller) if line.start <= heard]
        if started:
            owners[key] = started[-1]
    return owners


def _answer(
    agent: Sequence[Speech], line: Speech, tasks: tuple[int, ...], horizon: float
) -> Speech | None:
    """The first result stretch after ``line`` that speaks for one of ``tasks``."""
    for speech in agent:
        if speech.kind != "result" or speech.start < line.end:
            continue
        if set(speech.tasks) & set(tasks) or (not speech.tasks and speech.start < horizon):
            return speech
    return None


def _told(task: TaskSpan, agent: Sequence[Speech], end: float) -> float:
    """When the caller started hearing ``task``'s outcome (the end of what it owed them)."""
    if task.ended is None:
        return end
    if task.outcome in _NOT_OWED:
        return task.ended
    for speech in agent:
        if task.number in speech.tasks and (
            speech.kind == "result" or (speech.kind == "notice" and speech.start >= task.ended)
        ):
            return speech.start
    return next((s.start for s in agent if s.start >= task.ended), task.ended)


def _by_type(pairs: Iterable[tuple[str, float | None]]) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {}
    for kind, value in pairs:
        if value is not None:
            found.setdefault(kind, []).append(value)
    return dict(sorted(found.items()))


def _rounded(samples: dict[str, list[float]]) -> dict[str, list[float]]:
    return {kind: [round(v, 3) for v in values] for kind, values in samples.items()}


def _merge(spans: Sequence[Span]) -> list[Span]:
    """``spans`` as sorted, disjoint spans (empty ones dropped)."""
    merged: list[Span] = []
    for start, stop in sorted(s for s in spans if s[1] > s[0]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], stop))
        else:
            merged.append((start, stop))
    return merged


def _subtract(spans: Sequence[Span], holes: Sequence[Span]) -> list[Span]:
    """The parts of ``spans`` outside every one of ``holes``."""
    gaps = _merge(holes)
    left: list[Span] = []
    for start, stop in _merge(spans):
        at = start
        for hole_start, hole_stop in gaps:
            if hole_stop <= at or hole_start >= stop:
                continue
            if hole_start > at:
                left.append((at, hole_start))
            at = max(at, hole_stop)
        if at < stop:
            left.append((at, stop))
    return left
