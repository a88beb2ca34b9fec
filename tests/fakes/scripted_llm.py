"""A scripted ``llm.LLM`` for text-mode ``AgentSession`` tests: each model call takes the next
scripted reply (text and/or tool calls); an unscripted call fails the test."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from livekit.agents import APIConnectOptions, llm
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, NOT_GIVEN, NotGivenOr

from responder.offline.brain import Decision, DecisionStream


@dataclass
class Turn:
    """One model reply: optional text, then tool calls ``(name, arguments)``."""

    text: str | None = None
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


class ScriptedLLM(llm.LLM[Any]):
    """Replies with ``turns`` in order; records the chat context of every call."""

    def __init__(self, turns: list[Turn]) -> None:
        super().__init__()
        self.turns = deque(turns)
        self.contexts: list[llm.ChatContext] = []

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
        if not self.turns:
            raise AssertionError("the model was called more often than scripted")
        self.contexts.append(chat_ctx.copy())
        turn = self.turns.popleft()
        return DecisionStream(
            self,
            Decision(turn.text or "", turn.calls),
            chat_ctx=chat_ctx,
            tools=tools or [],
            conn=conn_options,
        )
