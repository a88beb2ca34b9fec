"""The offline responder brain: a small rule-based ``llm.LLM`` for the demo restaurant.

No instruction-following model small enough ships in a registry package (see the offline-stack
notes), so without ``OPENAI_API_KEY`` this stands in for the realtime model's reasoning. It is
honest about what it is: it answers greetings, thanks, goodbyes and backchannels itself, hands
every restaurant request to the thinker through the same ``delegate`` tool the real model uses
(acknowledging in the same response), reads the thinker's answers back from their tool outputs
when the floor asks, handles "yes, book it" and "actually, make it ..." corrections, and says
plainly when something is outside what it can do. It understands nothing beyond these patterns.

The decision is a pure function of the conversation (:func:`decide`), so it is testable without
a session.
"""

from __future__ import annotations

import ast
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
from shared.passages import best_passages, split_passages
from tools.builtin.restaurant import RESTAURANT

_DOMAIN = re.compile(
    r"\b(?:book\w*|reserv\w*|tables?|availab\w*|free|seats?|cancel\w*|TT-\w+|open\w*|clos\w*|"
    r"hours|menu|price\w*|cost|dish\w*|food|eat|allerg\w*|gluten|vegan|vegetarian|nuts?|dairy|"
    r"park\w*|car|dogs?|pets?|address|where|located|location|metro|pay\w*|cards?|cash|kids?|"
    r"child\w*|high chair|wheelchair|accessib\w*|private|events?|wine|drinks?|dessert\w*|"
    r"tiramis\w*|pasta|pizza|terrace|deposit|weather|rain\w*|time is it|bill|split|tip|"
    r"tonight|tomorrow|monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b",
    re.IGNORECASE,
)
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
_ANSWER_REPR = re.compile(r"answer is this: ('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")")
_SENTENCE_END = re.compile(r"(?<=[.?!])\s+|\n+")
_NUMBERED = re.compile(r"^\d+\.\s+", re.MULTILINE)
_CUT_OFF = "\nThe caller cut you off last time"
_ASKS_TO_BOOK = re.compile(r"\bShall I book\b|\bShall I cancel\b")
_OFFERED_RETRY = re.compile(r"\btry again\b", re.IGNORECASE)

GREETING_LINE = f"Thanks for calling {RESTAURANT.name}. How can I help you?"
OFF_DOMAIN_LINE = (
    "Sorry, I can only help with bookings and questions about the restaurant. "
    "What can I do for you?"
)

_REWRITES = (  # the thinker's bookkeeping sentences, as a host would say them
    (
        re.compile(
            r"Booking it needs the caller's confirmation of the details: .*?, under the "
            r"name (.+?)\.?$"
        ),
        r"Shall I book it under the name \1?",
    ),
    (re.compile(r"^Booked\.$"), ""),
    (re.compile(r"^Booking (TT-\w+): (.*?)\.?$"), r"You're all set: \2. Your reference is \1."),
    (re.compile(r"Cancelling it needs the caller's confirmation\.?"), "Shall I cancel it?"),
    (re.compile(r"To book it I still need the name for the booking\.?"), "What name is it under?"),
    (re.compile(r"To check for a table I still need to know (.*?)\.?$"), r"Could you tell me \1?"),
    (re.compile(r"^Yes: "), "Good news: "),
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


def decide(items: Sequence[llm.ChatItem]) -> Decision:
    """The brain's response to the conversation ``items`` (the last item is what it answers)."""
    if not items:
        return Decision(GREETING_LINE)
    last = items[-1]
    if (
        isinstance(last, llm.ChatMessage)
        and last.role in ("system", "developer")
        and len(items) > 1
    ):
        return Decision(_follow_instructions(last.text_content or "", items))
    if isinstance(last, llm.ChatMessage) and last.role == "user":
        return _answer_caller(last.text_content or "", items)
    return Decision()  # after a tool's output: its answer comes later, through the floor


_LONG_DATE = re.compile(
    r"\b(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday) (\d{1,2}) "
    r"(?:January|February|March|April|May|June|July|August|September|October|November|"
    r"December)(?: \d{4})?"
)


def _say_day(match: re.Match[str]) -> str:
    day = int(match[2])
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{match[1]} the {day}{suffix}"


def speak_answer(text: str) -> str:
    """A thinker answer as the host says it: bookkeeping sentences reworded, times speakable."""
    sentences = [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]
    spoken: list[str] = []
    for sentence in sentences:
        for pattern, replacement in _REWRITES:
            sentence = pattern.sub(replacement, sentence)
        sentence = _LONG_DATE.sub(_say_day, speakable(sentence))
        if not sentence:
            continue
        spoken.append(sentence.rstrip(".:;,") + ("" if sentence.endswith("?") else "."))
    return " ".join(spoken)


# -- the floor's instructions --------------------------------------------------------------------


def _follow_instructions(instructions: str, items: Sequence[llm.ChatItem]) -> str:
    body, _, retry = instructions.partition(_CUT_OFF)
    parts = [p.strip() for p in _NUMBERED.split(body) if p.strip()]
    if len(parts) > 1 and parts[0].startswith("Cover all of these"):
        parts = parts[1:]
    said = [_follow_one(part, items) for part in parts]
    if retry:  # the caller cut in and spoke: what they cut off they moved on from
        cut = [
            m.text_content or ""
            for m in items
            if isinstance(m, llm.ChatMessage) and m.role == "assistant" and m.interrupted
        ]
        said = [s for s in said if not any(c and s.startswith(c[:24]) for c in cut)]
    return " ".join(s for s in said if s)


def _follow_one(instruction: str, items: Sequence[llm.ChatItem]) -> str:
    if instruction.startswith(("Say exactly this", "Say:")):
        quoted = _QUOTED.search(instruction)
        return quoted.group(1) if quoted else ""
    if instruction.startswith("Greet the caller"):
        return GREETING_LINE
    answer = _referenced_answer(instruction, items)
    if answer is not None:
        if instruction.startswith("An early fact"):
            return f"{speak_answer(answer)} I'm still working on the rest."
        if instruction.startswith("Follow-up"):
            return f"Sorry for the wait. {speak_answer(answer)}"
        return speak_answer(answer)
    if "could not be finished" in instruction:
        return "Sorry, I couldn't get that done just now. Would you like me to try again?"
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


def relevant_part(answer: str, request: str, *, budget: int = 240) -> str:
    """A long answer cut to what the caller asked about: a phone answer is a sentence or two,
    not a document read aloud. The (at most two) passages sharing the most words with
    ``request`` (see :func:`shared.passages.best_passages`); the first two if none share any."""
    if len(answer) <= budget:
        return answer
    return " ".join(best_passages(answer, request) or split_passages(answer)[:2])


def _request_of(call: llm.FunctionCall) -> str:
    try:
        return str(json.loads(call.arguments or "{}").get("request", ""))
    except json.JSONDecodeError:
        return ""


# -- the caller's turns --------------------------------------------------------------------------


def _answer_caller(heard: str, items: Sequence[llm.ChatItem]) -> Decision:
    text = heard.strip()
    delegations = _delegations(items)
    latest = delegations[-1] if delegations else None
    asked = _last_agent_line(items)
    if not text:
        return Decision()
    if latest is not None and _YES.match(text):
        if _ASKS_TO_BOOK.search(asked):
            request = f"Yes, go ahead and book it. {latest.request}"
            return _delegate("Great, I'll book that now.", request, confirmed=True)
        if _OFFERED_RETRY.search(asked):
            return _delegate("Sure, trying again now.", latest.request)
    if latest is not None and _NO.match(text) and _ASKS_TO_BOOK.search(asked):
        return Decision("No problem, I won't. Is there anything else I can do?")
    if is_backchannel(text):
        return Decision()  # "mm-hm": keep listening
    if latest is not None and _CORRECTION.search(text):
        request = f"{text} (correcting: {latest.request})"
        return _delegate("Sure, let me change that.", request, replaces=latest.number)
    if _DOMAIN.search(text):
        return _delegate(_acknowledgement(text), text)
    if _STILL_HERE.match(text):  # after "are you still there?"
        return Decision("No problem. How can I help?")
    if _GOODBYE.search(text):
        return Decision(f"Thanks for calling {RESTAURANT.name}. Goodbye!")
    if _THANKS.match(text):
        return Decision("You're welcome! Is there anything else I can help with?")
    if _HOW_ARE_YOU.search(text):
        return Decision("I'm doing well, thank you. How can I help you today?")
    if _GREETING.match(text):
        return Decision("Hello! How can I help you today?")
    return Decision(OFF_DOMAIN_LINE)


def _acknowledgement(text: str) -> str:
    if text.count("?") > 1 or _SECOND_QUESTION.search(text):
        return "Let me check both of those."
    if re.search(r"\b(?:book\w*|reserv\w*|table|availab\w*)\b", text, re.IGNORECASE):
        return "Let me check that for you."
    return "Let me look that up."


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


# -- the llm.LLM plugin --------------------------------------------------------------------------


class FrontDeskBrain(llm.LLM[Any]):
    """The rule-based offline brain as a LiveKit ``llm.LLM`` (text and ``delegate`` calls)."""

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
            self, decide(chat_ctx.items), chat_ctx=chat_ctx, tools=tools or [], conn=conn_options
        )


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
