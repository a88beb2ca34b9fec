"""The generic offline front desk: a small rule-based ``llm.LLM`` for any profile.

No instruction-following model small enough ships in a registry package (see the offline-stack
notes), so without ``OPENAI_API_KEY`` this stands in for the realtime model's reasoning. It is
honest about what it is: it answers greetings, thanks, goodbyes and backchannels itself (with the
profile's own greeting and goodbye), hands every other caller request to the thinker through the
same ``delegate`` tool the real model uses (acknowledging in the same response), reads the
thinker's answers back from their tool outputs when the floor asks, cut to phone length, handles
"yes, go ahead" after a read-back and "actually, make it ..." corrections. It understands nothing
beyond these patterns.

A profile may bring a richer one (its ``offline.responder_brain``); subclassing
:class:`OfflineFrontDesk` and overriding its hooks (:meth:`~OfflineFrontDesk.is_request`,
:meth:`~OfflineFrontDesk.acknowledgement`, :attr:`~OfflineFrontDesk.rewrites`, ...) is the short
way. The decision is a pure function of the conversation (:meth:`OfflineFrontDesk.decide`), so it
is testable without a session.
"""

from __future__ import annotations

import ast
import functools
import itertools
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from livekit.agents import APIConnectOptions, llm
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, NOT_GIVEN, NotGivenOr

from responder.backchannel import is_backchannel
from responder.masking import speakable
from responder.turns import (
    CONTINUATION_WINDOW_S,
    caller_turns,
    continues,
    incomplete_reason,
    joined,
)
from shared.passages import best_passages, split_passages
from shared.profile import Profile

Rewrite = tuple[re.Pattern[str], str]
"""A pattern in a thinker answer's sentence and what the host says instead (``re.sub``)."""

_SMALL_TALK_WORDS = (
    "a afternoon all alright am and are bye cheers day doing er evening else fine for going good "
    "goodbye great hello here hey hi hiya how i i'm im is it it's lot lovely morning much nice no "
    "nothing now ok okay oh perfect right see so sorry still sure thank thanks that that's thats "
    "there today um uh very well wonderful yeah yep yes you"
)
"""Words that make up greetings, thanks, goodbyes and "still there?" answers: a turn made only of
these is small talk, answered here; anything else is a request for the thinker."""
_SMALL_TALK = frozenset(_SMALL_TALK_WORDS.split())
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
_GOODBYE = re.compile(r"\b(?:bye|goodbye|that'?s all|that is all|nothing else)\b", re.IGNORECASE)
_THANKS = re.compile(r"^\W*(?:thanks|thank you|cheers|great|perfect|lovely)\b", re.IGNORECASE)
_GREETING = re.compile(r"^\W*(?:hi|hello|hey|good (?:morning|afternoon|evening))\b", re.IGNORECASE)
_STILL_HERE = re.compile(
    r"^\W*(?:yes|yeah|yep|sorry|i'?m (?:still )?here|still here)\b", re.IGNORECASE
)
_HOW_ARE_YOU = re.compile(r"\bhow are you\b", re.IGNORECASE)
_YES = re.compile(
    r"^\W*(?:yes|yeah|yep|sure|please do|correct|that'?s right|go ahead|ok(?:ay)?|absolutely)\b",
    re.IGNORECASE,
)
_NO = re.compile(r"^\W*(?:no|nope|don'?t|do not)\b(?!\s+wait)", re.IGNORECASE)
_CORRECTION = re.compile(
    r"\b(?:actually|no wait|instead|make it|change (?:it|that)|rather|i meant)\b",
    re.IGNORECASE,
)
_SECOND_QUESTION = re.compile(
    r"\band (?:also )?(?:do|does|is|are|can|could|what|what's|how|when|where|will)\b",
    re.IGNORECASE,
)
_DERIVED_CALL = re.compile(r"_(?:result|final|partial_\d+)$")
_TASK_STARTED = re.compile(r"\bTask (\d+) started\b")
_QUOTED = re.compile(r'"([^"]*)"')
_CALL_ID = re.compile(r"tool output with call id (\S+?)[.,\s]")
_ANSWER_REPR = re.compile(r"\bis this: ('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")")
_SENTENCE_END = re.compile(r"(?<=[.?!])\s+|\n+")
_NUMBERED = re.compile(r"^\d+\.\s+", re.MULTILINE)
_CUT_OFF = "\nThe caller cut you off last time"
_OFFERED_RETRY = re.compile(r"\btry again\b", re.IGNORECASE)
_NO_ANSWER = "has no answer"
"""In the floor's instructions for an ``unknown`` result (responder.prompts.answer_instructions)."""
_RETRY_LATER = "could not be finished"
"""In the instructions for a failure worth another try: the only one that offers it."""
_CANNOT = "cannot be done"
"""In the instructions for a failure that another try would not mend."""
_WRAP_UP = "needs to wrap up within"
"""In the session budget's wrap-up guidance (responder.prompts.wrap_up_instructions)."""
_TASK_STILL_RUNNING = "is still running"
_MESSAGE = re.compile(r"\bmessage\b", re.IGNORECASE)
TAKE_A_MESSAGE = "I can take a message for the team if you like."
"""The offer said with every "I don't know" and "I can't do that" (never "try again")."""
_LONG_DATE = re.compile(
    r"\b(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday) (\d{1,2}) "
    r"(?:January|February|March|April|May|June|July|August|September|October|November|"
    r"December)(?: \d{4})?"
)


@dataclass(frozen=True)
class Decision:
    """What the brain says, then the tools it calls (``(name, arguments)``), in one response."""

    text: str = ""
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


@dataclass(frozen=True)
class _Delegation:
    call_id: str
    request: str
    number: int
    answered: bool


_MAX_FRAGMENTS = 3
"""Caller turns at most that one sentence is heard across ("a table for um", "for four and",
"on Saturday")."""


def _unfinished(text: str) -> bool:
    """Words that stop mid-sentence by the words themselves ("a table for um"), not only by a
    transcript's trailing "..." (see :func:`responder.turns.incomplete_reason`)."""
    return incomplete_reason(text) not in (None, "trailing_off")


def is_small_talk(text: str) -> bool:
    """Whether ``text`` is only greetings, thanks, goodbyes or "yes, I'm here" (no request)."""
    return all(word in _SMALL_TALK for word in _WORD.findall(text.lower()))


def asks_several(text: str) -> bool:
    """Whether ``text`` asks more than one thing ("When do you open and is there parking?")."""
    return text.count("?") > 1 or _SECOND_QUESTION.search(text) is not None


def _say_day(match: re.Match[str]) -> str:
    day = int(match[2])
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{match[1]} the {day}{suffix}"


def speak_answer(text: str, rewrites: Sequence[Rewrite] = ()) -> str:
    """A thinker answer as the host says it: sentence by sentence, ``rewrites`` applied (a
    profile's bookkeeping sentences reworded), times and dates speakable."""
    sentences = [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]
    spoken: list[str] = []
    for sentence in sentences:
        for pattern, replacement in rewrites:
            sentence = pattern.sub(replacement, sentence)
        sentence = _LONG_DATE.sub(_say_day, speakable(sentence))
        if not sentence:
            continue
        spoken.append(sentence.rstrip(".:;,") + ("" if sentence.endswith("?") else "."))
    return " ".join(spoken)


def relevant_part(answer: str, request: str, *, budget: int = 240) -> str:
    """A long answer cut to what the caller asked about: a phone answer is a sentence or two,
    not a document read aloud. The (at most two) passages sharing the most words with
    ``request`` (see :func:`shared.passages.best_passages`); the first two if none share any."""
    if len(answer) <= budget:
        return answer
    return " ".join(best_passages(answer, request) or split_passages(answer)[:2])


# -- the llm.LLM plugin --------------------------------------------------------------------------


class OfflineFrontDesk(llm.LLM[Any]):
    """The generic rule-based front desk of ``profile``, as a LiveKit ``llm.LLM`` (text and
    ``delegate`` calls). Built as the responder builds any profile's offline brain:
    ``OfflineFrontDesk(profile)``.

    Subclasses change what counts as a request, the acknowledgements and the rewording of their
    thinker's answers through the hooks below.
    """

    rewrites: Sequence[Rewrite] = ()
    """Applied to each sentence of a thinker answer before it is said (see :func:`speak_answer`)."""
    confirmation = re.compile(r"\bShall I\b")
    """An agent line asking the caller to confirm an action: a "yes" after it delegates the
    latest request again, with ``caller_confirmed``."""
    confirmed_acknowledgement = "Great, I'll do that now."
    confirmed_request = "Yes, go ahead."
    """Put before the latest request when the caller confirmed it."""
    fallback_line = "Sorry, I didn't catch that. How can I help?"
    """Said to a turn that is neither small talk nor a request (see :meth:`is_request`)."""
    go_on_line = "Yes, go on?"
    """Said to words that stop mid-sentence ("I'd like to book a table for um…") instead of
    delegating half a request; the caller's next turn is heard as its rest."""

    def __init__(self, profile: Profile) -> None:
        super().__init__()
        self.profile = profile

    @property
    def model(self) -> str:
        """What the logs and metrics call this model."""
        return "tandem-offline-rules"

    @property
    def provider(self) -> str:
        """Where the model runs."""
        return "local"

    def chat(
        self,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool] | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
        parallel_tool_calls: NotGivenOr[bool] = NOT_GIVEN,
        tool_choice: NotGivenOr[llm.ToolChoice] = NOT_GIVEN,
        extra_kwargs: NotGivenOr[dict[str, Any]] = NOT_GIVEN,
    ) -> llm.LLMStream:
        """Decide on the conversation and stream the decision as one response."""
        return DecisionStream(
            self,
            self.decide(chat_ctx.items),
            chat_ctx=chat_ctx,
            tools=tools or [],
            conn=conn_options,
        )

    # -- hooks -------------------------------------------------------------------------------

    def is_request(self, text: str) -> bool:
        """Whether the caller's turn goes to the thinker: here, anything but small talk."""
        return not is_small_talk(text)

    def acknowledgement(self, text: str) -> str:
        """What the host says while delegating ``text``, in the same response."""
        return "Let me check both of those." if asks_several(text) else "Let me look that up."

    def small_talk(self, text: str) -> str:
        """The reply to a turn that is not a request: greetings, thanks, goodbyes."""
        if _STILL_HERE.match(text):  # after "are you still there?"
            return "No problem. How can I help?"
        if _GOODBYE.search(text):
            return self.profile.persona.goodbye
        if _THANKS.match(text):
            return "You're welcome! Is there anything else I can help with?"
        if _HOW_ARE_YOU.search(text):
            return "I'm doing well, thank you. How can I help you today?"
        if _GREETING.match(text):
            return "Hello! How can I help you today?"
        return self.fallback_line

    # -- the decision ------------------------------------------------------------------------

    def decide(self, items: Sequence[llm.ChatItem]) -> Decision:
        """The response to the conversation ``items`` (the last item is what it answers)."""
        if not items:
            return Decision(self.profile.persona.greeting)
        last = items[-1]
        if (
            isinstance(last, llm.ChatMessage)
            and last.role in ("system", "developer")
            and len(items) > 1
        ):
            return Decision(self._follow_instructions(last.text_content or "", items))
        if isinstance(last, llm.ChatMessage) and last.role == "user":
            return self._answer_caller(last.text_content or "", items)
        return Decision()  # after a tool's output: its answer comes later, through the floor

    def _answer_caller(self, heard: str, items: Sequence[llm.ChatItem]) -> Decision:
        text = heard.strip()
        if not text:
            return Decision()
        delegations = _delegations(items)
        latest = delegations[-1] if delegations else None
        if latest is not None:
            reply = self._after_answer(text, latest, _last_agent_line(items))
            if reply is not None:
                return reply
        if is_backchannel(text):
            return Decision()  # "mm-hm": keep listening
        fragment = self._fragment_finished_by(items)
        if fragment is not None:  # "a table for um…" then "…four people": one request
            text = joined(fragment, text)
        if _unfinished(text) and not is_small_talk(text):
            return Decision(self.go_on_line)  # don't hand the thinker half a sentence
        if latest is not None and _CORRECTION.search(text):
            request = f"{text} (correcting: {latest.request})"
            return _delegate("Sure, let me change that.", request, replaces=latest.number)
        if self.is_request(text):
            return _delegate(self.acknowledgement(text), text)
        return Decision(self.small_talk(text))

    def _fragment_finished_by(self, items: Sequence[llm.ChatItem]) -> str | None:
        """The earlier caller turns whose sentence the latest one finishes, joined (see
        :func:`responder.turns.continues`; after an unfinished turn, answered with
        :attr:`go_on_line`, however long the caller took), or None."""
        said = caller_turns(items)[-_MAX_FRAGMENTS - 1 :]
        fragments: list[str] = []
        for previous, current in reversed(list(itertools.pairwise(said))):
            asked_to_go_on = _unfinished(previous.text) and not is_small_talk(previous.text)
            window = None if asked_to_go_on else CONTINUATION_WINDOW_S
            if not continues(previous, current, window_s=window):
                break
            fragments.insert(0, previous.text)
        return functools.reduce(joined, fragments) if fragments else None

    def _after_answer(self, text: str, latest: _Delegation, asked: str) -> Decision | None:
        """A "yes" or "no" to what the host last asked about the latest request, if it was."""
        confirming = self.confirmation.search(asked) is not None
        if _YES.match(text):
            if confirming:
                request = f"{self.confirmed_request} {latest.request}"
                return _delegate(self.confirmed_acknowledgement, request, confirmed=True)
            if _OFFERED_RETRY.search(asked):
                return _delegate("Sure, trying again now.", latest.request)
        if confirming and _NO.match(text):
            return Decision("No problem, I won't. Is there anything else I can do?")
        return None

    # -- the floor's instructions ------------------------------------------------------------

    def _follow_instructions(self, instructions: str, items: Sequence[llm.ChatItem]) -> str:
        body, _, retry = instructions.partition(_CUT_OFF)
        parts = [p.strip() for p in _NUMBERED.split(body) if p.strip()]
        if len(parts) > 1 and parts[0].startswith("Cover all of these"):
            parts = parts[1:]
        said = [self._follow_one(part, items) for part in parts]
        if retry:  # the caller cut in and spoke: what they cut off they moved on from
            cut = [
                m.text_content or ""
                for m in items
                if isinstance(m, llm.ChatMessage) and m.role == "assistant" and m.interrupted
            ]
            said = [s for s in said if not any(c and s.startswith(c[:24]) for c in cut)]
        return " ".join(s for s in said if s)

    def _follow_one(self, instruction: str, items: Sequence[llm.ChatItem]) -> str:
        if instruction.startswith(("Say exactly", "Say:")):
            quoted = _QUOTED.search(instruction)
            return quoted.group(1) if quoted else ""
        if instruction.startswith("Greet the caller"):
            return self.profile.persona.greeting
        answer = _referenced_answer(instruction, items)
        if answer is not None:
            spoken = speak_answer(answer, self.rewrites)
            if _NO_ANSWER in instruction and not _MESSAGE.search(spoken):
                spoken = f"{spoken} {TAKE_A_MESSAGE}".strip()
            if instruction.startswith("An early fact"):
                return f"{spoken} I'm still working on the rest."
            if instruction.startswith("Follow-up"):
                return f"Sorry for the wait. {spoken}"
            return spoken
        if _RETRY_LATER in instruction:
            return "Sorry, I couldn't get that done just now. Would you like me to try again?"
        if _CANNOT in instruction:
            return f"Sorry, I can't get that done. {TAKE_A_MESSAGE}"
        if instruction.startswith("Guardrail: the caller"):
            quoted = _QUOTED.search(instruction)
            return quoted.group(1) if quoted else ""
        if instruction.startswith("Guardrail: you just started"):
            return "Sorry, I misspoke. How else can I help?"
        if _WRAP_UP in instruction:
            if _TASK_STILL_RUNNING in instruction:
                return "I'll have that for you in just a moment, and then I'll need to finish up."
            return "Before I let you go, is there anything else I can help you with?"
        if "taking longer than it should" in instruction:
            return "This is taking longer than it should. I'm still on it and will tell you soon."
        return ""


def _referenced_answer(instruction: str, items: Sequence[llm.ChatItem]) -> str | None:
    found = _CALL_ID.search(instruction)
    if found is not None:
        wanted = found.group(1)
        outputs = [i for i in items if isinstance(i, llm.FunctionCallOutput)]
        calls = [i for i in items if isinstance(i, llm.FunctionCall)]
        output = next((i.output for i in reversed(outputs) if i.call_id == wanted), None)
        if output is not None:
            call = next((c for c in calls if c.call_id == wanted), None)
            return relevant_part(output, _request_of(call) if call else "")
    literal = _ANSWER_REPR.search(instruction)
    if literal is not None:
        return str(ast.literal_eval(literal.group(1)))
    return None


def _request_of(call: llm.FunctionCall) -> str:
    try:
        return str(json.loads(call.arguments or "{}").get("request", ""))
    except json.JSONDecodeError:
        return ""


def _delegate(
    say: str, request: str, *, replaces: int | None = None, confirmed: bool = False
) -> Decision:
    arguments: dict[str, Any] = {"request": request}
    if replaces is not None:
        arguments["replaces_task"] = replaces
    if confirmed:
        arguments["caller_confirmed"] = True
    return Decision(say, [("delegate", arguments)])


def _delegations(items: Sequence[llm.ChatItem]) -> list[_Delegation]:
    """Every ``delegate`` call so far, with its task number and whether its answer arrived."""
    outputs = {
        item.call_id: item.output for item in items if isinstance(item, llm.FunctionCallOutput)
    }
    found: list[_Delegation] = []
    for item in items:  # tasks are numbered 1, 2, ... in the order they were delegated
        if not isinstance(item, llm.FunctionCall) or item.name != "delegate":
            continue
        if _DERIVED_CALL.search(item.call_id):  # answers, partials, the framework's "_final"
            continue
        request = _request_of(item)
        started = _TASK_STARTED.search(outputs.get(item.call_id, ""))
        found.append(
            _Delegation(
                call_id=item.call_id,
                request=request,
                number=int(started.group(1)) if started else len(found) + 1,
                answered=f"{item.call_id}_result" in outputs,
            )
        )
    return found


def _last_agent_line(items: Sequence[llm.ChatItem]) -> str:
    for item in reversed(items):
        if isinstance(item, llm.ChatMessage) and item.role == "assistant" and item.text_content:
            return item.text_content
    return ""


class DecisionStream(llm.LLMStream):
    """One :class:`Decision` streamed as an LLM response: its text, then its tool calls."""

    def __init__(
        self,
        brain: llm.LLM[Any],
        decision: Decision,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool],
        conn: APIConnectOptions,
    ) -> None:
        super().__init__(brain, chat_ctx=chat_ctx, tools=tools, conn_options=conn)
        self._decision = decision

    async def _run(self) -> None:
        chunk_id = uuid.uuid4().hex
        if self._decision.text:
            delta = llm.ChoiceDelta(role="assistant", content=self._decision.text)
            self._event_ch.send_nowait(llm.ChatChunk(id=chunk_id, delta=delta))
        calls = [
            llm.FunctionToolCall(
                name=name, arguments=json.dumps(arguments), call_id=f"call_{uuid.uuid4().hex[:12]}"
            )
            for name, arguments in self._decision.calls
        ]
        if calls:
            delta = llm.ChoiceDelta(role="assistant", tool_calls=calls)
            self._event_ch.send_nowait(llm.ChatChunk(id=chunk_id, delta=delta))
