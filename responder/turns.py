"""When the caller's turn is over: the words so far, weighed for completeness.

A pause is not the end of a turn when the words before it are unfinished. "I'd like to book a
table for um…" followed by 1.6 s of thought is half a sentence: answering it (or handing it to
the thinker) gets the caller an answer to the wrong question, then a second task for the rest.

**The rule** (:func:`incomplete_reason`). The caller's words so far end *incomplete* when their
last words are:

* a filler: "um", "uh", "er", "erm", "hmm";
* a word that cannot end an English sentence: a preposition ("for", "to", "at", "with", "of",
  "from", "about"...), an article ("a", "the"), a conjunction ("and", "but", "or", "if",
  "because"...), a possessive ("my", "your", "our") or "be" ("it would be");
* a request without its object: "I'd like", "I want", "can I get", "do you have", "I'd like to
  book" (``like/want/need/... to`` and at most one word), "my name is";
* a time cut before its hour: "at half", "quarter past";
* or a transcript that trails off: it ends in "...", "…", "," or a dash (Whisper writes these
  when the speech stops mid-phrase).

Not incomplete: a particle after a phrasal verb ("can we come in", "I'll drop by"), a stranded
preposition in a question about who/what/where ("who am I speaking to?", "where are you located
at?"), the last letter of a spelled name ("R-I-V-E-R-A"), and everything else. Complete words
end the turn as quickly as before.

**The waits** (:func:`endpointing`). A complete turn ends ``min_delay`` after the caller's last
sound (``TANDEM_RESPONDER_ENDPOINTING_S``, 0.15 s, after the VAD's own end-of-speech silence of
0.3 s offline): unchanged. An incomplete one waits up to :data:`INCOMPLETE_EXTRA_S` (2.0 s) more,
``min_delay + 2.0`` s after the last sound, the cap; the caller speaking again within it cancels
the end and the turn goes on, its words joined. LiveKit does the waiting:
:class:`CompletenessTurnDetector` is a turn detector object in ``turn_handling["turn_detection"]``
(LiveKit's text end-of-turn protocol, ``predict_end_of_turn``), answering
:data:`INCOMPLETE_PROBABILITY` for incomplete words, below its ``unlikely_threshold``, so the
framework waits ``endpointing["max_delay"]`` instead of ``min_delay``. The realtime model with
``turn_detection="local"`` transcribes only after the turn is committed, so there are no words
to weigh in time: it gets LiveKit's audio end-of-turn model instead (:func:`audio_turn_detector`,
same waits). With semantic VAD the model decides, and :data:`responder.prompts.RULES` tells it
the same rule.

**LiveKit's local end-of-turn model** (``turn-detector-v1-mini``, audio only, 20-50 ms per
call) was measured on the simulated caller's voice, 30 unfinished and 30 finished lines (the last
1.2 s of audio with 0.3 s of silence, as the framework feeds it). It separates them weakly:
unfinished lines scored 0.07-0.59 (mean 0.33), finished ones 0.25-0.76 (mean 0.48). At its own
English threshold (0.36) it held 15 of 30 unfinished lines and would have delayed 7 of 30
finished ones by the whole cap; at :data:`AUDIO_UNLIKELY_THRESHOLD` (0.2) it held 7 and delayed
none. The transcript rule, on Whisper tiny.en's transcripts of the same audio, held 24 of 30
(30 of 30 on the words said: the six it missed are Whisper's mishearings, such as "with" heard
as "width" or a trailing "at" dropped) and delayed none. So the cascade weighs the words, and
the audio model, at 0.2, serves only ``turn_detection="local"``, where no words exist in time.

**Continuations** (:func:`continues`): a caller turn that carries on the previous one (the
previous words ended incomplete, or the new ones start mid-sentence: "…four people on Saturday",
"for two tomorrow", lowercase, a leading ellipsis) within :data:`CONTINUATION_WINDOW_S`, and
that does not start a new request (a greeting, a question, "actually", "yes"...). The delegation
core (:mod:`responder.delegation`) uses it to replace the task the previous turn started (if it is
younger than :data:`CONTINUATION_TASK_AGE_S` and its answer has not been said) with the whole
utterance, :func:`joined`; the offline front desk uses it to hear the two turns as one.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from livekit.agents import llm
from livekit.agents.language import LanguageCode

from responder.backchannel import words

log = logging.getLogger("tandem.responder.turns")

INCOMPLETE_EXTRA_S = 2.0
"""How much longer than the normal endpointing an incomplete turn may wait: the cap."""
INCOMPLETE_PROBABILITY = 0.05
"""The end-of-turn probability :class:`CompletenessTurnDetector` gives unfinished words."""
COMPLETE_PROBABILITY = 0.95
"""... and finished ones."""
UNLIKELY_THRESHOLD = 0.5
"""Below it, LiveKit waits ``max_delay`` rather than ``min_delay``."""
CONTINUATION_WINDOW_S = 5.0
"""Longest pause between a turn and the one that continues it (end of speech to start)."""
CONTINUATION_TASK_AGE_S = 12.0
"""A task older than this was not started by the fragment a turn continues (the pause, the
continuation itself and the reply fit well within it)."""
AUDIO_UNLIKELY_THRESHOLD = 0.2
"""``turn_detection="local"``: below this probability of LiveKit's audio end-of-turn model the
turn waits longer (its own English threshold, 0.36, delayed 7 of 30 finished lines measured)."""

Reason = Literal["filler", "dangling", "unfinished", "trailing_off"]
"""Why words are incomplete: a trailing filler, a word that cannot end a sentence, a request
without its object, or a transcript that trails off ("..."); see :func:`incomplete_reason`."""


def _vocabulary(text: str) -> frozenset[str]:
    return frozenset(text.split())


_TRAILING_OFF = re.compile("(?:\\.\\.\\.|\u2026|,|-|\u2013|\u2014)\\s*$")
_FILLERS = _vocabulary("um umm uh uhh er erm ehm uhm hmm")
_PREPOSITIONS = _vocabulary(
    "for to at with of from about into onto under around near until till after before between "
    "than per towards toward via without during in on by"
)
_PARTICLES = _vocabulary("in on by up out off over back down around")
"""Prepositions that also end phrasal verbs ("come in", "drop by")."""
_PHRASAL_VERBS = _vocabulary(
    "come coming came check checking drop dropping pop popping stop stopping walk walking call "
    "calling hold holding go going get getting sit sitting log sign turn put try pick fill hang "
    "eat dine bring take looked look stay move moved pass passing swing"
)
_DANGLING = _vocabulary(
    "a an the and but or nor if because cause since unless whether although though while "
    "my your our their its be any"
)
_WH_STRANDING = _vocabulary("who whom what what's which where where's who's")
"""Questions whose wh-word is the object of a trailing preposition ("who am I speaking to?")."""
_WANTS = re.compile(
    r"\b(?:i'd|i|we'd|we|i'm|we're|would) (?:like|want|need|wanted|love|hope|hoping|trying|"
    r"going|calling|looking|able|planning|meaning|wondering)( to(?: \S+)?)?$"
)
"""An intention without its object: "I'd like", "we want to", "I'd like to book"."""
_OPENERS = _vocabulary(
    "hi hello hey yes yeah yep so um uh er and well ok okay right oh good morning afternoon "
    "evening then actually also sorry"
)
"""Words that may come before an intention opening the turn ("Hi, I'd like")."""
_UNFINISHED_ENDINGS = (
    re.compile(r"\b(?:can|could|may|might) (?:i|we|you) (?:get|have|book|ask|order|reserve)$"),
    re.compile(r"\b(?:do|did|does) you (?:have|know|offer|serve|take)$"),
    re.compile(r"\b(?:have you got|is there|are there|i was wondering|wondering if)$"),
    re.compile(r"\b(?:name|number|surname|reference|email|phone) (?:is|was)$|\bname's$"),
    re.compile(r"\b(?:at|around|about|by|past|to) (?:half|quarter)$|\b(?:half|quarter) past$"),
)
_NEW_REQUEST = _vocabulary(
    "hi hello hey good what what's when where where's who who's whom why how how's which do does "
    "did is are was were can could would will should may might shall have has actually no nope "
    "yes yeah yep sure sorry wait cancel forget instead never thanks thank ok okay great perfect "
    "bye goodbye please i'd i'm i've i want need"
)
"""First words of a turn that asks, answers, greets or corrects: a new request, not the rest of
the previous sentence."""
_LEADING = _vocabulary("um umm uh uhh er erm so oh well also")
"""Words skipped before a turn's first real word."""
_JOINERS = _vocabulary("and but or plus then")
_MID_SENTENCE = _vocabulary(
    "for at on in with under around about by from to of until till after before between near "
    "and but or plus then people persons guests adults kids children us "
    "half quarter past o'clock pm am today tonight tomorrow monday tuesday wednesday thursday "
    "friday saturday sunday lunch dinner breakfast "
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen twenty thirty forty fifty hundred couple few"
)
"""First words that carry a sentence on rather than start one ("…four people on Saturday")."""


def incomplete_reason(text: str) -> Reason | None:
    """Why the caller's words ``text`` stop before the sentence is done, or None when they may
    well be done (see the module's rule)."""
    said = words(text)
    if not said:
        return None
    last = said[-1]
    before = said[-2] if len(said) > 1 else ""
    if last in _FILLERS:
        return "filler"
    tail = " ".join(said[-6:])
    if _unfinished_intention(said, tail) or any(p.search(tail) for p in _UNFINISHED_ENDINGS):
        return "unfinished"
    if last in _PREPOSITIONS and not _stranded(said, before):
        return "dangling"
    if last in _DANGLING and not _stands_alone(last, said):
        return "dangling"
    if _TRAILING_OFF.search(text.strip()):
        return "trailing_off"
    return None


def ends_incomplete(text: str) -> bool:
    """Whether the caller's words ``text`` stop before the sentence is done."""
    return incomplete_reason(text) is not None


def _stands_alone(last: str, said: list[str]) -> bool:
    """A word of :data:`_DANGLING` that ends the sentence after all: the last letter of a
    spelled name ("R-I-V-E-R-A"), or "any?" on its own."""
    before = said[-2] if len(said) > 1 else ""
    if last == "a" and len(before) == 1:
        return True
    return last == "any" and len(said) < 3


def _unfinished_intention(said: list[str], tail: str) -> bool:
    """ "I'd like to", "I'd like to book"; "I'd like" / "I need" only opening the turn ("that's
    all I need" is finished)."""
    found = _WANTS.search(tail)
    if found is None:
        return False
    if found.group(1):
        return True
    opening = said[: len(said) - len(found.group(0).split())]
    return all(word in _OPENERS for word in opening)


def _stranded(said: list[str], before: str) -> bool:
    """A trailing preposition that belongs: a phrasal verb's particle, or a question's."""
    last = said[-1]
    if last in _PARTICLES and before in _PHRASAL_VERBS:
        return True
    if before in ("speaking", "talking", "speak", "talk"):
        return True
    first = said[0]
    return first in _WH_STRANDING and not (len(said) > 1 and said[1] in ("time", "day", "date"))


# -- LiveKit's turn detector ---------------------------------------------------------------------


class CompletenessTurnDetector:
    """A LiveKit turn detector (``turn_handling["turn_detection"]``) that judges the caller's
    transcript so far with :func:`incomplete_reason`: unfinished words get
    :data:`INCOMPLETE_PROBABILITY`, so the framework waits the endpointing's ``max_delay``
    (see :func:`endpointing`); finished ones end the turn after ``min_delay``. English only
    (the rule's words); for another language the framework skips it."""

    @property
    def model(self) -> str:
        """What LiveKit's metrics and traces call it."""
        return "tandem-completeness-rules"

    @property
    def provider(self) -> str:
        """Where it runs."""
        return "local"

    async def unlikely_threshold(self, language: LanguageCode | None) -> float | None:
        """Below this probability the turn is unlikely to be over: wait longer."""
        return UNLIKELY_THRESHOLD

    async def supports_language(self, language: LanguageCode | None) -> bool:
        """English (or not known)."""
        return language is None or language.language == "en"

    async def predict_end_of_turn(
        self,
        chat_ctx: llm.ChatContext,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 (LiveKit's protocol)
    ) -> float:
        """How likely the caller's turn (the last caller message in ``chat_ctx``) is over."""
        text = _last_caller_text(chat_ctx)
        reason = incomplete_reason(text)
        log.debug("end of turn weighed", extra={"incomplete": reason})
        return COMPLETE_PROBABILITY if reason is None else INCOMPLETE_PROBABILITY


def _last_caller_text(chat_ctx: llm.ChatContext) -> str:
    for item in reversed(chat_ctx.items):
        if isinstance(item, llm.ChatMessage) and item.role == "user":
            return item.text_content or ""
    return ""


@functools.cache
def audio_turn_detector() -> Any:
    """LiveKit's local audio end-of-turn model (``turn-detector-v1-mini``) at
    :data:`AUDIO_UNLIKELY_THRESHOLD`: for ``turn_detection="local"``, where the realtime model
    transcribes only after the turn ends, so the words cannot be weighed in time. One per
    process (each session opens its own stream on it; LiveKit warns once about the threshold)."""
    from livekit.agents import inference

    return inference.TurnDetector(version="v1-mini", unlikely_threshold=AUDIO_UNLIKELY_THRESHOLD)


def endpointing(min_delay: float) -> dict[str, Any]:
    """LiveKit's ``endpointing`` options for :class:`CompletenessTurnDetector`: finished words
    end the turn ``min_delay`` after the last sound, unfinished ones up to
    :data:`INCOMPLETE_EXTRA_S` later."""
    return {"mode": "fixed", "min_delay": min_delay, "max_delay": min_delay + INCOMPLETE_EXTRA_S}


# -- continuations -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallerTurn:
    """One committed caller turn: its words and, when known, when it was spoken (seconds on
    any one clock)."""

    text: str
    started_at: float | None = None
    ended_at: float | None = None


def caller_turns(items: Iterable[llm.ChatItem]) -> list[CallerTurn]:
    """The caller's turns among a conversation's ``items``, in order, with LiveKit's speaking
    times where it recorded them (``started_speaking_at`` / ``stopped_speaking_at``, wall
    clock)."""
    found: list[CallerTurn] = []
    for item in items:
        if isinstance(item, llm.ChatMessage) and item.role == "user" and item.text_content:
            metrics = item.metrics or {}
            found.append(
                CallerTurn(
                    item.text_content,
                    metrics.get("started_speaking_at"),
                    metrics.get("stopped_speaking_at"),
                )
            )
    return found


def continues(
    previous: CallerTurn, current: CallerTurn, *, window_s: float | None = CONTINUATION_WINDOW_S
) -> bool:
    """Whether ``current`` carries on ``previous`` as one sentence: it came within ``window_s``
    of it (None: no limit; an unknown gap passes), does not start a new request, and either
    the previous words ended incomplete or the new ones start mid-sentence."""
    gap = _gap(previous, current)
    if window_s is not None and gap is not None and gap > window_s:
        return False
    if starts_new_request(current.text):
        return False
    return ends_incomplete(previous.text) or starts_mid_sentence(current.text)


def _gap(previous: CallerTurn, current: CallerTurn) -> float | None:
    if previous.ended_at is None or current.started_at is None:
        return None
    return current.started_at - previous.ended_at


def starts_new_request(text: str) -> bool:
    """Whether ``text`` opens a request, question, answer or correction of its own ("Do you
    have parking?", "And can I bring my dog?", "Actually, make it eight")."""
    said = _without_leading(words(text))
    while said and said[0] in _JOINERS:
        said = _without_leading(said[1:])
    return bool(said) and said[0] in _NEW_REQUEST


def starts_mid_sentence(text: str) -> bool:
    """Whether ``text`` carries a sentence on: it starts lowercase or with an ellipsis, or its
    first word is one a new sentence rarely starts with ("for", "four", "and at eight")."""
    stripped = text.lstrip()
    if stripped.startswith(("...", "…")) or stripped[:1].islower():
        return True
    said = _without_leading(words(text))
    return bool(said) and (said[0] in _MID_SENTENCE or said[0].isdigit())


def _without_leading(said: list[str]) -> list[str]:
    index = 0
    while index < len(said) and said[index] in _LEADING:
        index += 1
    return said[index:]


def joined(first: str, rest: str) -> str:
    """One request from a fragment and its continuation ("a table for um…" + "Four people on
    Saturday." -> "a table for four people on Saturday."): the fragment's trailing filler and
    marks dropped; ``rest`` alone when it already holds the fragment's words (a model that
    wrote the whole request itself)."""
    head, tail = first.strip(), rest.strip()
    if not head:
        return tail
    if _covers(tail, head):
        return tail
    head = _TRAILING_MARKS.sub("", head)
    head_words = head.split()
    while head_words and words(head_words[-1]) and words(head_words[-1])[-1] in _FILLERS:
        head_words.pop()
    head = _TRAILING_MARKS.sub("", " ".join(head_words))
    tail = _LEADING_MARKS.sub("", tail)
    first_word = words(tail)[:1]
    if first_word and first_word[0] in _LOWERCASE_STARTS:
        tail = tail[:1].lower() + tail[1:]
    return f"{head} {tail}".strip()


_WEEKDAYS = _vocabulary("monday tuesday wednesday thursday friday saturday sunday")
_LOWERCASE_STARTS = (_MID_SENTENCE | _LEADING | _JOINERS) - _WEEKDAYS
_TRAILING_MARKS = re.compile("[\\s.,\u2026\\-\u2013\u2014?!]+$")
_LEADING_MARKS = re.compile("^[\\s.,\u2026\\-\u2013\u2014]+")


def _covers(text: str, part: str) -> bool:
    """Most (80 %) of ``part``'s words are in ``text``."""
    wanted = [w for w in words(part) if w not in _FILLERS]
    if not wanted:
        return True
    have = set(words(text))
    return sum(w in have for w in wanted) >= 0.8 * len(wanted)
