"""A scripted ``llm.LLM`` for text-mode ``AgentSession`` tests: each model call takes the next
scripted reply (text and/or tool calls); an unscripted call fails the test."""

from __future__ import annotations

import json
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from livekit.agents import APIConnectOptions, llm
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, NOT_GIVEN, NotGivenOr


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
        return _Stream(
            self, self.turns.popleft(), chat_ctx=chat_ctx, tools=tools or [], conn=conn_options
        )


class _Stream(llm.LLMStream):
    def __init__(
        self,
        model: ScriptedLLM,
        turn: Turn,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool],
        conn: APIConnectOptions,
    ) -> None:
        super().__init__(model, chat_ctx=chat_ctx, tools=tools, conn_options=conn)
        self._turn = turn

    async def _run(self) -> None:
        chunk_id = uuid.uuid4().hex
        if self._turn.text:
            delta = llm.ChoiceDelta(role="assistant", content=self._turn.text)
            self._event_ch.send_nowait(llm.ChatChunk(id=chunk_id, delta=delta))
        calls = [
            llm.FunctionToolCall(
                name=name, arguments=json.dumps(arguments), call_id=f"call_{uuid.uuid4().hex[:8]}"
            )
            for name, arguments in self._turn.calls
        ]
        if calls:
            delta = llm.ChoiceDelta(role="assistant", tool_calls=calls)
            self._event_ch.send_nowait(llm.ChatChunk(id=chunk_id, delta=delta))
