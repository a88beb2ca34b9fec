"""What a scripted reply is made of: turns, blocks, interruptions, HTTP errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

if TYPE_CHECKING:
    from tests.fakes.anthropic.recording import RecordedRequest

StopReason: TypeAlias = Literal[
    "end_turn", "tool_use", "max_tokens", "stop_sequence", "pause_turn", "refusal"
]


@dataclass(frozen=True)
class Text:
    """A text block, streamed as ``text_delta`` pieces of ``chunk_chars`` characters."""

    text: str
    chunk_chars: int = 4


@dataclass(frozen=True)
class ToolUse:
    """A ``tool_use`` block.

    ``input`` is a dict (serialised and streamed as ``input_json_delta`` pieces of
    ``chunk_chars`` characters, so pieces end mid-token) or a raw string sent verbatim, to
    simulate truncated or malformed arguments (see the package docstring for what the SDK does
    with those). ``id`` defaults to a unique ``toolu_...``.
    """

    name: str
    input: Mapping[str, Any] | str = field(default_factory=dict)
    id: str | None = None
    chunk_chars: int = 7


@dataclass(frozen=True)
class Thinking:
    """A ``thinking`` block: ``thinking_delta`` pieces, then one ``signature_delta``.

    ``signature`` defaults to a deterministic opaque string derived from the text.
    """

    thinking: str
    signature: str | None = None
    chunk_chars: int = 8


@dataclass(frozen=True)
class RedactedThinking:
    """A ``redacted_thinking`` block (start and stop, no deltas)."""

    data: str = "fake-redacted-thinking"


Block: TypeAlias = Text | ToolUse | Thinking | RedactedThinking


@dataclass(frozen=True)
class Usage:
    """Token usage of a turn (final totals; message_start reports ``output_tokens=1``).

    ``output_tokens=None`` estimates one token per four characters of output.
    """

    input_tokens: int = 25
    output_tokens: int | None = None
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0


@dataclass(frozen=True)
class StreamError:
    """Interrupt a stream with ``event: error`` carrying an Anthropic error body, then end it.

    Sent in place of the ``after_deltas + 1``-th content_block_delta (or of message_delta when
    the turn has fewer deltas). Non-streaming requests get the matching HTTP error instead.
    """

    after_deltas: int = 0
    error_type: str = "overloaded_error"
    message: str = "Overloaded"


@dataclass(frozen=True)
class Stall:
    """Stop sending after ``after_deltas`` deltas and hold the socket open.

    Lasts until the client gives up (``outcome == "client_disconnected"``) or the fake closes
    (the socket is then dropped). A non-streaming request simply gets no response.
    """

    after_deltas: int = 0


@dataclass(frozen=True)
class Drop:
    """Close the TCP connection abruptly after ``after_deltas`` deltas (a network failure)."""

    after_deltas: int = 0


Interruption: TypeAlias = StreamError | Stall | Drop


@dataclass(frozen=True)
class Pause:
    """Hold a stream before content block ``before_block`` (0-based) starts until ``until()``
    returns, then go on: an event instead of a delay, so that a test does not depend on the
    machine's speed (e.g. hold the next tool call until the client has started the first).

    ``before_block`` equal to the number of blocks holds the end of the message (message_delta).
    A client that hangs up meanwhile is recorded as ``client_disconnected``.
    """

    before_block: int
    until: Callable[[], Awaitable[object]]


@dataclass(frozen=True)
class Turn:
    """One scripted assistant message.

    ``stop_reason`` defaults to ``"tool_use"`` when a block is a :class:`ToolUse`, else
    ``"end_turn"``. ``first_byte_delay_s`` delays the response headers (the SDK call itself
    waits for them); ``delta_delay_s`` is slept before every content_block_delta.
    ``headers_after`` is awaited before the headers are sent (after ``first_byte_delay_s``): an
    event rather than a delay, e.g. ``lambda: fake.wait_for_requests(2)`` holds the reply until a
    second request has arrived, however slow the machine; ``pause`` holds it mid-stream.
    """

    blocks: Sequence[Block] = ()
    stop_reason: StopReason | None = None
    usage: Usage = Usage()
    first_byte_delay_s: float = 0.0
    delta_delay_s: float = 0.0
    interrupt: Interruption | None = None
    headers_after: Callable[[], Awaitable[object]] | None = None
    pause: Pause | None = None

    @classmethod
    def say(cls, text: str, **options: Any) -> Turn:
        """A turn with one text block."""
        return cls([Text(text)], **options)

    @classmethod
    def call(cls, name: str, tool_input: Mapping[str, Any] | str, **options: Any) -> Turn:
        """A turn with one tool call."""
        return cls([ToolUse(name, tool_input)], **options)

    @property
    def resolved_stop_reason(self) -> StopReason:
        """The stop reason sent in message_delta."""
        if self.stop_reason is not None:
            return self.stop_reason
        return "tool_use" if any(isinstance(b, ToolUse) for b in self.blocks) else "end_turn"


@dataclass(frozen=True)
class HttpError:
    """An HTTP error status with an Anthropic error body ``{"type": "error", "error": {...}}``.

    ``error_type`` defaults from the status (529 ``overloaded_error``, 429 ``rate_limit_error``,
    ...). ``retry_after_ms`` sets ``retry-after-ms`` (must be > 0 for the SDK to honour it);
    ``should_retry`` sets ``x-should-retry``; ``delay_s`` delays the response.
    """

    status: int = 529
    error_type: str | None = None
    message: str = "Overloaded"
    retry_after_ms: int | None = None
    should_retry: bool | None = None
    delay_s: float = 0.0


@dataclass(frozen=True)
class Hang:
    """Accept the request and never answer; the socket is dropped when the fake closes."""


Reply: TypeAlias = Turn | HttpError | Hang
Responder: TypeAlias = Callable[["RecordedRequest"], Reply]

Outcome: TypeAlias = Literal[
    "pending",
    "completed",
    "http_error",
    "stream_error",
    "dropped",
    "client_disconnected",
    "server_closed",
    "rejected",
    "unexpected",
]
