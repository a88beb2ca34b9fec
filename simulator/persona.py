"""A persona caller: Claude plays the person phoning the agent, one spoken line at a time.

The model plays the caller, so the agent's lines are the ``user`` side of its conversation and
the caller's own earlier lines the ``assistant`` side. Every turn it must call exactly one tool,
``say(text)`` with its next line or ``hang_up()``, so its reply never has to be guessed from free
text. The line is cleaned of anything a voice cannot say (stage directions, markdown, emoji).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Sequence
from itertools import groupby
from typing import Literal

import anthropic
from anthropic.types import MessageParam, ToolParam

from shared.errors import TandemError
from simulator.claude import request_failed

log = logging.getLogger(__name__)

MAX_TOKENS = 160
"""Room for one or two spoken sentences inside a tool call, and no more."""

SYSTEM_PROMPT = """\
You are playing a caller phoning a business, to test the business's voice agent. You are the \
caller, never the agent: the agent's words reach you as the user's messages, and what you say is \
spoken aloud by a text-to-speech voice.

Who you are and how you talk:
{persona}

What you want from this call:
{goals}

Every turn, call exactly one tool. Use say with your next line: one or two short sentences, the \
way people talk on the phone, in character. Pursue your goals naturally, one thing at a time; \
answer what the agent asks and give details when they are asked for, not all at once. Words \
only: no stage directions, no sound effects, no markdown, no emoji. Text in square brackets in \
the user's messages is a note about the call, not speech. Use hang_up once the call is over: \
your goals are met or clearly cannot be met and goodbyes have been said, or the agent has ended \
the call."""

CALL_CONNECTS = "[The call connects.]"
"""Opens the model's conversation when the caller speaks first (it must start on the user side)."""
AGENT_SILENT = "[The agent says nothing.]"
"""Closes it when the caller spoke last, so the model never continues its own line."""

_SAY: ToolParam = {
    "name": "say",
    "description": "Say your next line to the agent.",
    "input_schema": {
        "type": "object",
        "properties": {
            "text": {
                "type": "string",
                "description": "Exactly the words you say: one or two short sentences.",
            }
        },
        "required": ["text"],
    },
}
_HANG_UP: ToolParam = {
    "name": "hang_up",
    "description": "Hang up: the call is over.",
    "input_schema": {"type": "object", "properties": {}},
}

_ROLES: dict[str, Literal["user", "assistant"]] = {"agent": "user", "caller": "assistant"}
_STAGE_DIRECTION = re.compile(r"\*[^*]*\*|\[[^\]]*\]|\([^)]*\)")
_SPEAKER_LABEL = re.compile(r"^\s*caller\s*:\s*", re.IGNORECASE)
_SPACE_BEFORE_PUNCTUATION = re.compile(r"\s+([,.!?;:])")
_UNSPEAKABLE_CHARS = frozenset('*#`~"“”')
_UNSPEAKABLE_CATEGORIES = frozenset({"So", "Cf"})  # emoji and other symbols; invisible controls


class PersonaError(TandemError):
    """The persona model replied with something that is neither a line nor a hang-up."""


class PersonaCaller:
    """A caller played by ``model`` as ``persona`` (who they are, how they talk), after ``goals``.

    ``client`` carries the timeout and retry policy (see
    :func:`simulator.claude.anthropic_client`). The caller keeps no state between lines: each
    :meth:`next_line` sends the whole transcript.
    """

    def __init__(
        self,
        client: anthropic.AsyncAnthropic,
        model: str,
        *,
        persona: str,
        goals: Sequence[str],
    ) -> None:
        self._client = client
        self._model = model
        self._system = SYSTEM_PROMPT.format(
            persona=persona.strip(), goals="\n".join(f"- {goal}" for goal in goals)
        )

    async def next_line(self, transcript: Sequence[tuple[str, str]]) -> str | None:
        """What the caller says next after ``transcript``, or None when they hang up.

        ``transcript`` is the call so far as ``(speaker, text)`` pairs, ``speaker`` being
        ``"caller"`` or ``"agent"``. Raises :class:`PersonaError` on a reply that is not one
        ``say``/``hang_up`` call with something speakable, and
        :class:`~shared.errors.UpstreamError` when the request fails.
        """
        try:
            reply = await self._client.messages.create(
                model=self._model,
                max_tokens=MAX_TOKENS,
                system=self._system,
                tools=[_SAY, _HANG_UP],
                tool_choice={"type": "any", "disable_parallel_tool_use": True},
                messages=_messages(transcript),
            )
        except anthropic.APIError as error:
            raise request_failed("the persona's request", error) from None
        if reply.stop_reason == "max_tokens":
            raise PersonaError("the persona's reply was cut off at max_tokens")
        calls = [block for block in reply.content if block.type == "tool_use"]
        if len(calls) != 1:
            raise PersonaError(f"the persona must call say or hang_up once, not {len(calls)} times")
        call = calls[0]
        if call.name == "hang_up":
            return None
        text = call.input.get("text")
        if call.name != "say" or not isinstance(text, str):
            raise PersonaError(f"the persona called {call.name} without a text to say")
        line = _speakable(text)
        if not line:
            raise PersonaError("the persona's line has nothing a voice could say")
        log.debug("persona line", extra={"text": line})
        return line


def _messages(transcript: Sequence[tuple[str, str]]) -> list[MessageParam]:
    """The transcript as the caller model's conversation, one message per turn of speakers."""
    lines: list[tuple[Literal["user", "assistant"], str]] = []
    for speaker, text in transcript:
        if speaker not in _ROLES:
            raise ValueError(f"unknown speaker {speaker!r}: expected 'caller' or 'agent'")
        if text.strip():
            lines.append((_ROLES[speaker], text.strip()))
    turns = [
        (role, "\n".join(text for _, text in group))
        for role, group in groupby(lines, key=lambda line: line[0])
    ]
    if not turns or turns[0][0] == "assistant":
        turns.insert(0, ("user", CALL_CONNECTS))
    if turns[-1][0] == "assistant":
        turns.append(("user", AGENT_SILENT))
    return [{"role": role, "content": text} for role, text in turns]


def _speakable(text: str) -> str:
    """``text`` as a voice would say it: no stage directions, markdown, emoji or speaker label."""
    text = _SPEAKER_LABEL.sub("", _STAGE_DIRECTION.sub(" ", text))
    text = "".join(
        char
        for char in text
        if char not in _UNSPEAKABLE_CHARS
        and unicodedata.category(char) not in _UNSPEAKABLE_CATEGORIES
    )
    return _SPACE_BEFORE_PUNCTUATION.sub(r"\1", " ".join(text.split()))
