"""What the fake saw: one record per request, and the requests the script did not expect."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web

from tests.fakes.anthropic.script import Outcome, Reply


def _has_cache_control(blocks: object) -> bool:
    return isinstance(blocks, list) and any(
        isinstance(block, dict) and "cache_control" in block for block in blocks
    )


@dataclass
class RecordedRequest:
    """One request as the fake saw it. Times are ``time.monotonic()`` values."""

    index: int
    method: str
    path: str
    headers: dict[str, str]
    """Request headers; the API key (``x-api-key`` / ``authorization``) is redacted."""
    body: dict[str, Any]
    """The parsed JSON body (``{}`` if it was not a JSON object)."""
    raw_body: bytes
    body_is_json_object: bool
    auth: Literal["bearer", "x-api-key", "none"]
    received_at: float
    reply: Reply | None = None
    message_id: str | None = None
    first_byte_at: float | None = None
    finished_at: float | None = None
    outcome: Outcome = "pending"

    @property
    def model(self) -> str | None:
        """The requested model."""
        return self.body.get("model")

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The conversation sent."""
        return list(self.body.get("messages") or [])

    @property
    def system(self) -> str | list[dict[str, Any]] | None:
        """The system prompt: a string, a list of blocks, or None."""
        return self.body.get("system")

    @property
    def tools(self) -> list[dict[str, Any]]:
        """The tool definitions sent."""
        return list(self.body.get("tools") or [])

    @property
    def tool_names(self) -> list[str]:
        """Names of the tools sent."""
        return [tool.get("name", "") for tool in self.tools]

    @property
    def stream(self) -> bool:
        """Whether the client asked for SSE."""
        return bool(self.body.get("stream"))

    @property
    def system_cache_control(self) -> bool:
        """Whether any system block carries ``cache_control``."""
        return _has_cache_control(self.body.get("system"))

    @property
    def tools_cache_control(self) -> bool:
        """Whether any tool definition carries ``cache_control``."""
        return _has_cache_control(self.body.get("tools"))

    @property
    def retry_count(self) -> int:
        """The SDK's ``x-stainless-retry-count`` (0 for a first attempt)."""
        return int(self.headers.get("x-stainless-retry-count", "0"))


@dataclass(frozen=True)
class UnexpectedCall:
    """A request the script did not account for."""

    index: int
    reason: str
    path: str
    body: dict[str, Any]

    def __str__(self) -> str:
        model = self.body.get("model")
        last = (self.body.get("messages") or [None])[-1]
        return f"request #{self.index} {self.path} (model={model!r}): {self.reason}; last={last!r}"


def record_request(index: int, request: web.Request, raw: bytes, arrived: float) -> RecordedRequest:
    """Record ``request`` (body ``raw``, arrived at ``arrived``) with the API key redacted."""
    headers = {name.lower(): value for name, value in request.headers.items()}
    bearer = headers.get("authorization", "").removeprefix("Bearer").strip()
    api_key = headers.get("x-api-key", "").strip()
    auth: Literal["bearer", "x-api-key", "none"] = (
        "x-api-key" if api_key else "bearer" if bearer else "none"
    )
    for secret in ("authorization", "x-api-key"):
        if secret in headers:
            headers[secret] = "<redacted>"
    try:
        parsed = json.loads(raw) if raw else {}
    except ValueError:
        parsed = None
    return RecordedRequest(
        index=index,
        method=request.method,
        path=request.path,
        headers=headers,
        body=parsed if isinstance(parsed, dict) else {},
        raw_body=raw,
        body_is_json_object=isinstance(parsed, dict),
        auth=auth,
        received_at=arrived,
    )
