"""The wire format: SSE events, complete JSON messages and Anthropic error bodies."""

from __future__ import annotations

import hashlib
import itertools
import json
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.anthropic.script import Block, Text, Thinking, ToolUse, Turn

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
STATUS_OF_ERROR_TYPE = {error_type: status for status, error_type in ERROR_TYPES.items()}


_ids = itertools.count(1)


def unique_id(prefix: str) -> str:
    return f"{prefix}_fake{next(_ids):05d}{uuid.uuid4().hex[:12]}"


def _pieces(text: str, size: int) -> list[str]:
    size = max(1, size)
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def sse(event: str, data: Mapping[str, Any]) -> bytes:
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"event: {event}\ndata: {payload}\n\n".encode()


def error_body(error_type: str, message: str, request_id: str) -> dict[str, Any]:
    return {
        "type": "error",
        "error": {"type": error_type, "message": message},
        "request_id": request_id,
    }


def error_response(
    status: int,
    error_type: str,
    message: str,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """An HTTP error response with an Anthropic error body and a ``request-id``."""
    request_id = unique_id("req")
    return web.json_response(
        error_body(error_type, f"[FakeAnthropic] {message}", request_id),
        status=status,
        headers={"request-id": request_id, **(headers or {})},
    )


def _tool_json(block: ToolUse) -> str:
    if isinstance(block.input, str):
        return block.input
    return json.dumps(dict(block.input), ensure_ascii=False)


def _signature(block: Thinking) -> str:
    if block.signature is not None:
        return block.signature
    return "fakesig-" + hashlib.sha256(block.thinking.encode()).hexdigest()[:40]


def final_content(block: Block, tool_id: str) -> dict[str, Any]:
    """A block as it appears in a complete (non-streamed) message.

    Raises ``ValueError`` for a raw tool input that is not a JSON object (streaming only).
    """
    if isinstance(block, Text):
        return {"type": "text", "text": block.text}
    if isinstance(block, ToolUse):
        tool_input = json.loads(block.input) if isinstance(block.input, str) else block.input
        if not isinstance(tool_input, Mapping):
            raise ValueError(f"tool input {block.input!r} is not a JSON object")
        return {"type": "tool_use", "id": tool_id, "name": block.name, "input": dict(tool_input)}
    if isinstance(block, Thinking):
        return {"type": "thinking", "thinking": block.thinking, "signature": _signature(block)}
    return {"type": "redacted_thinking", "data": block.data}


def _start_content(block: Block, tool_id: str) -> dict[str, Any]:
    """A block as content_block_start announces it."""
    if isinstance(block, Text):
        return {"type": "text", "text": ""}
    if isinstance(block, ToolUse):
        return {"type": "tool_use", "id": tool_id, "name": block.name, "input": {}}
    if isinstance(block, Thinking):
        return {"type": "thinking", "thinking": "", "signature": ""}
    return {"type": "redacted_thinking", "data": block.data}


def _deltas(block: Block) -> list[dict[str, Any]]:
    if isinstance(block, Text):
        return [{"type": "text_delta", "text": p} for p in _pieces(block.text, block.chunk_chars)]
    if isinstance(block, ToolUse):
        pieces = ["", *_pieces(_tool_json(block), block.chunk_chars)]  # the API starts with ""
        return [{"type": "input_json_delta", "partial_json": p} for p in pieces]
    if isinstance(block, Thinking):
        pieces = _pieces(block.thinking, block.chunk_chars)
        return [
            *({"type": "thinking_delta", "thinking": p} for p in pieces),
            {"type": "signature_delta", "signature": _signature(block)},
        ]
    return []


def turn_output_tokens(turn: Turn) -> int:
    if turn.usage.output_tokens is not None:
        return turn.usage.output_tokens
    chars = 0
    for block in turn.blocks:
        if isinstance(block, Text):
            chars += len(block.text)
        elif isinstance(block, ToolUse):
            chars += len(_tool_json(block)) + len(block.name)
        elif isinstance(block, Thinking):
            chars += len(block.thinking)
    return max(1, chars // 4)


def usage_body(turn: Turn, output_tokens: int) -> dict[str, int]:
    return {
        "input_tokens": turn.usage.input_tokens,
        "cache_creation_input_tokens": turn.usage.cache_creation_input_tokens,
        "cache_read_input_tokens": turn.usage.cache_read_input_tokens,
        "output_tokens": output_tokens,
    }


@dataclass(frozen=True)
class SseEvent:
    name: str
    data: dict[str, Any]
    is_delta: bool = False


def stream_events(turn: Turn, message: dict[str, Any], tool_ids: list[str]) -> Iterator[SseEvent]:
    """The SSE events of ``turn``; ``message`` is its final form without content."""
    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None}
    start["usage"] = usage_body(turn, min(1, message["usage"]["output_tokens"]))
    yield SseEvent("message_start", {"type": "message_start", "message": start})
    yield SseEvent("ping", {"type": "ping"})
    for index, (block, tool_id) in enumerate(zip(turn.blocks, tool_ids, strict=True)):
        content = _start_content(block, tool_id)
        yield SseEvent(
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": content},
        )
        for delta in _deltas(block):
            yield SseEvent(
                "content_block_delta",
                {"type": "content_block_delta", "index": index, "delta": delta},
                is_delta=True,
            )
        yield SseEvent("content_block_stop", {"type": "content_block_stop", "index": index})
    yield SseEvent(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
            "usage": message["usage"],
        },
    )
    yield SseEvent("message_stop", {"type": "message_stop"})
