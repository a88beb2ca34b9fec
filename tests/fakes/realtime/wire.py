"""Server event and item shapes of the OpenAI Realtime API (GA), as plain dicts."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

from tests.fakes.realtime.script import Item

_counter = itertools.count(1)

DEFAULT_SESSION: dict[str, Any] = {
    "type": "realtime",
    "object": "realtime.session",
    "model": "gpt-realtime",
    "output_modalities": ["audio"],
    "instructions": "",
    "tools": [],
    "tool_choice": "auto",
    "max_output_tokens": "inf",
    "audio": {
        "input": {
            "format": {"type": "audio/pcm", "rate": 24000},
            "transcription": None,
            "noise_reduction": None,
            "turn_detection": {
                "type": "server_vad",
                "threshold": 0.5,
                "prefix_padding_ms": 300,
                "silence_duration_ms": 200,
                "create_response": True,
                "interrupt_response": True,
            },
        },
        "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "marin", "speed": 1.0},
    },
}


_MERGED_KEYS = frozenset({"audio", "input", "output"})


def merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """``base`` updated with ``patch`` as ``session.update`` applies it.

    The ``audio``/``input``/``output`` containers merge; any other field given is replaced
    whole (a new ``turn_detection`` keeps nothing of the old one).
    """
    merged = dict(base)
    for key, value in patch.items():
        if key in _MERGED_KEYS and isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def new_id(prefix: str) -> str:
    """A unique id such as ``item_1a2b3c4d5e6f7a8b9c0d`` (the API's ids are opaque strings)."""
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


def event(type_: str, **fields: Any) -> dict[str, Any]:
    """A server event with a fresh ``event_id``."""
    return {"type": type_, "event_id": f"event_fake{next(_counter)}", **fields}


def error_event(
    message: str,
    *,
    code: str | None = None,
    error_type: str = "invalid_request_error",
    event_id: str | None = None,
    param: str | None = None,
) -> dict[str, Any]:
    """An ``error`` event; ``event_id`` names the client event it answers."""
    return event(
        "error",
        error={
            "type": error_type,
            "code": code,
            "message": message,
            "param": param,
            "event_id": event_id,
        },
    )


def user_audio_item(item_id: str) -> dict[str, Any]:
    """The user message a committed audio buffer becomes (transcript still unknown)."""
    return {
        "id": item_id,
        "object": "realtime.item",
        "type": "message",
        "status": "completed",
        "role": "user",
        "content": [{"type": "input_audio", "transcript": None}],
    }


def assistant_item(item_id: str, *, status: str, content: list[dict[str, Any]]) -> dict[str, Any]:
    """An assistant message item."""
    return {
        "id": item_id,
        "object": "realtime.item",
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": content,
    }


def function_call_item(
    item_id: str, *, name: str, call_id: str, arguments: str, status: str
) -> dict[str, Any]:
    """A function_call item."""
    return {
        "id": item_id,
        "object": "realtime.item",
        "type": "function_call",
        "status": status,
        "name": name,
        "call_id": call_id,
        "arguments": arguments,
    }


def usage(
    *, input_tokens: int, output_text_tokens: int, output_audio_tokens: int
) -> dict[str, Any]:
    """``response.usage`` with every detail the plugin's metrics read."""
    output_tokens = output_text_tokens + output_audio_tokens
    return {
        "total_tokens": input_tokens + output_tokens,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "input_token_details": {
            "text_tokens": input_tokens,
            "audio_tokens": 0,
            "image_tokens": 0,
            "cached_tokens": 0,
            "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0, "image_tokens": 0},
        },
        "output_token_details": {
            "text_tokens": output_text_tokens,
            "audio_tokens": output_audio_tokens,
        },
    }


def response_body(
    response_id: str,
    *,
    status: str,
    metadata: dict[str, Any] | None,
    modalities: list[str],
    output: list[dict[str, Any]] | None = None,
    status_details: dict[str, Any] | None = None,
    usage_body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``response`` object of ``response.created`` / ``response.done``."""
    return {
        "object": "realtime.response",
        "id": response_id,
        "status": status,
        "status_details": status_details,
        "output": output or [],
        "conversation_id": "conv_fake",
        "output_modalities": modalities,
        "max_output_tokens": "inf",
        "audio": {"output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "marin"}},
        "usage": usage_body,
        "metadata": metadata,
    }


def content_text(part: dict[str, Any]) -> str:
    """The text of one content part (text, or an audio transcript)."""
    for key in ("text", "transcript"):
        if isinstance(value := part.get(key), str):
            return value
    return ""


def flatten(item: dict[str, Any]) -> Item:
    """A raw item as a script-friendly :class:`Item`."""
    content = item.get("content") or []
    return Item(
        id=str(item.get("id")),
        type=str(item.get("type")),
        role=item.get("role"),
        text="".join(content_text(part) for part in content if isinstance(part, dict)),
        name=item.get("name"),
        arguments=item.get("arguments"),
        call_id=item.get("call_id"),
        output=item.get("output"),
        status=str(item.get("status") or "completed"),
    )


def without_audio(item: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``item`` whose ``input_audio`` parts keep their transcript but not the bytes."""
    content = item.get("content")
    if not isinstance(content, list):
        return dict(item)
    parts = [
        {key: value for key, value in part.items() if key != "audio"}
        if isinstance(part, dict)
        else part
        for part in content
    ]
    return {**item, "content": parts}
