"""What the fake hears and says: replies, the request a policy sees, and ready-made policies."""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

Trigger: TypeAlias = Literal["user_turn", "client"]


@dataclass(frozen=True)
class Say:
    """An assistant message spoken as audio (or sent as text in a text-only session).

    The audio is a tone lasting ``duration_s`` (default: the fake's ``ms_per_char`` times the
    length of ``text``, at least its ``min_say_ms``); the transcript is ``text``.
    """

    text: str
    duration_s: float | None = None


@dataclass(frozen=True)
class Call:
    """A function call, sent complete in ``response.output_item.done``.

    ``call_id`` defaults to a unique ``call_...``; ``arguments`` is serialised as JSON.
    """

    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)
    call_id: str | None = None


Part: TypeAlias = Say | Call


@dataclass(frozen=True, init=False)
class Reply:
    """One scripted response: its parts in order, e.g. ``Reply(Say("One moment."), Call(...))``.

    ``first_audio_delay_s`` waits after ``response.created`` before the first output (a slow
    model). ``stream_speed`` overrides the fake's pace (audio seconds sent per wall second):
    ``1.0`` streams in real time, handy to keep a response alive long enough to cancel it.
    """

    parts: tuple[Part, ...]
    first_audio_delay_s: float
    stream_speed: float | None

    def __init__(
        self, *parts: Part, first_audio_delay_s: float = 0.0, stream_speed: float | None = None
    ) -> None:
        for part in parts:
            if not isinstance(part, Say | Call):
                raise TypeError(f"a Reply is made of Say and Call parts, got {part!r}")
        object.__setattr__(self, "parts", tuple(parts))
        object.__setattr__(self, "first_audio_delay_s", first_audio_delay_s)
        object.__setattr__(self, "stream_speed", stream_speed)

    @property
    def says(self) -> list[str]:
        """The texts of the :class:`Say` parts."""
        return [part.text for part in self.parts if isinstance(part, Say)]

    @property
    def calls(self) -> list[Call]:
        """The :class:`Call` parts."""
        return [part for part in self.parts if isinstance(part, Call)]


@dataclass(frozen=True)
class Item:
    """A server-side conversation item, flattened for scripts and assertions.

    ``text`` is the message text: input/output text, or the audio transcript (user audio:
    what the fake heard; assistant audio: the transcript sent, emptied by a truncation, as the
    real API does).
    """

    id: str
    type: str
    role: str | None = None
    text: str = ""
    name: str | None = None
    arguments: str | None = None
    call_id: str | None = None
    output: str | None = None
    status: str = "completed"

    @property
    def args(self) -> dict[str, Any]:
        """``arguments`` parsed (``{}`` when absent)."""
        parsed = json.loads(self.arguments) if self.arguments else {}
        return parsed if isinstance(parsed, dict) else {}


@dataclass(frozen=True)
class ReplyRequest:
    """What a policy sees when the fake must produce a response.

    ``trigger`` is ``"user_turn"`` for a response the server created itself after its VAD
    detected the end of a user turn, ``"client"`` for a ``response.create``. ``user_text`` is
    the heard transcript of that turn, or for a client trigger the newest user message added
    since the previous response (``generate_reply(user_input=...)``, a committed buffer).
    ``new_items`` are the items added since the previous response was requested, except that
    response's own output (e.g. just the ``function_call_output`` answering its call).
    """

    trigger: Trigger
    user_text: str | None
    instructions: str | None
    conversation: list[Item]
    new_items: list[Item]
    tools: list[dict[str, Any]]
    tool_choice: Any = None

    @property
    def tool_names(self) -> list[str]:
        """Names of the tools the model may call."""
        return [str(tool.get("name")) for tool in self.tools if tool.get("name")]

    def summary(self) -> str:
        """A one-line description for failure messages."""
        instructions = self.instructions
        if instructions and len(instructions) > 120:
            instructions = "..." + instructions[-117:]
        recent = [
            f"{item.role or item.type}:{(item.text or item.output or item.name or '')[:40]!r}"
            for item in self.conversation[-3:]
        ]
        return (
            f"trigger={self.trigger} user_text={self.user_text!r} "
            f"instructions={instructions!r} recent_items={recent}"
        )


Policy: TypeAlias = Callable[[ReplyRequest], Reply | None]
"""Decides a reply; ``None`` means "unscripted": the fake fails loudly."""


class Script:
    """The transcripts the fake hears, one per detected user turn, and the reply policy.

    ``hears`` is consumed in order (append to it mid-test if you like); a user turn that finds
    it empty is a failure. ``policy`` defaults to :func:`default_policy`.
    """

    def __init__(self, hears: Iterable[str] = (), policy: Policy | None = None) -> None:
        self.hears: deque[str] = deque(hears)
        self.policy: Policy = policy if policy is not None else default_policy

    def hear(self) -> str | None:
        """The next transcript, or ``None`` when the script has none left."""
        return self.hears.popleft() if self.hears else None

    def reply(self, request: ReplyRequest) -> Reply | None:
        """Ask the policy."""
        return self.policy(request)


def speak_new_tool_outputs(request: ReplyRequest) -> Reply | None:
    """Speak the newest ``function_call_output`` added since the previous response."""
    outputs = [item for item in request.new_items if item.type == "function_call_output"]
    if not outputs or not outputs[-1].output:
        return None
    return Reply(Say(outputs[-1].output))


_QUOTED = re.compile(r"\"([^\"]+)\"|“([^”]+)”")


def speak_quoted_instructions(request: ReplyRequest) -> Reply | None:
    """Speak the last double-quoted text in the instructions.

    ``generate_reply(instructions=...)`` appends its text to the session instructions, so the
    last quote is the caller's: ``instructions='Say "Still working on it."'``.
    """
    if not request.instructions:
        return None
    quotes = [a or b for a, b in _QUOTED.findall(request.instructions)]
    return Reply(Say(quotes[-1])) if quotes else None


def first_of(*policies: Policy) -> Policy:
    """The first policy that returns a reply."""

    def policy(request: ReplyRequest) -> Reply | None:
        for candidate in policies:
            if (reply := candidate(request)) is not None:
                return reply
        return None

    return policy


client_default: Policy = first_of(speak_new_tool_outputs, speak_quoted_instructions)
"""For ``response.create``: a new tool output, else the quoted text of the instructions."""


def by_user_text(
    replies: Mapping[str, Reply | Callable[[ReplyRequest], Reply | None]],
    *,
    otherwise: Policy = client_default,
) -> Policy:
    """Reply by the user's words: the first key found (case-insensitively) in ``user_text``.

    A value may be a callable taking the request. A user turn that matches no key is
    unscripted (``None``). A client trigger without a matching user text goes to
    ``otherwise`` (default :data:`client_default`).
    """

    def policy(request: ReplyRequest) -> Reply | None:
        if request.user_text is not None:
            heard = request.user_text.lower()
            for key, value in replies.items():
                if key.lower() in heard:
                    return value if isinstance(value, Reply) else value(request)
        if request.trigger == "user_turn":
            return None
        return otherwise(request)

    return policy


def in_order(*replies: Reply, otherwise: Policy | None = None) -> Policy:
    """Each request takes the next reply, whatever triggered it; then ``otherwise`` (or fail)."""
    queue = deque(replies)

    def policy(request: ReplyRequest) -> Reply | None:
        if queue:
            return queue.popleft()
        return otherwise(request) if otherwise is not None else None

    return policy


def default_policy(request: ReplyRequest) -> Reply | None:
    """Client triggers get :data:`client_default`; user turns are unscripted."""
    return None if request.trigger == "user_turn" else client_default(request)
