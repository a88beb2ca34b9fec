"""The Messages API of the pool benchmark: ``tests.fakes.anthropic`` in its own process.

``python -m bench._pool_fake [--first-byte-delay-s S] [--delta-delay-s S] [--chunk-chars N]``
prints its URL on the first line of stdout and serves until SIGTERM/SIGINT. Every reply is
streamed (SSE) after the first-byte delay, one ``text_delta`` of ``chunk_chars`` characters per
``delta_delay_s``:

* a task that reads "Book a table for 2 under NAME on YYYY-MM-DD at HH:MM" gets a ``book_table``
  tool call first, then, once the request carries the tool's result, a short confirmation
  (:data:`BOOKED`, or :data:`NOT_BOOKED` if the tool reported an error): two model requests and
  one side effect per task (the crash benchmark counts the bookings);
* anything else gets :data:`ANSWER`, about the length of a spoken answer.

The fake forgets the requests it has answered every few seconds: a long run would otherwise keep
every request body (system prompt, tools) in memory.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
from collections.abc import Sequence
from typing import Any

from tests.fakes.anthropic import Block, FakeAnthropic, RecordedRequest, Reply, Text, ToolUse, Turn

ANSWER = (
    "Yes, we have a table for two at eight tonight, by the window. Shall I book it under your "
    "name? The kitchen closes at half past ten."
)
BOOKED = "Done: the table is booked, and the reference is in the booking details."
NOT_BOOKED = "Sorry, the booking did not go through."
BOOKING = re.compile(
    r"Book a table for (\d+) under ([\w ]+?) on (\d{4}-\d{2}-\d{2}) at (\d{2}:\d{2})"
)
FORGET_EVERY_S = 5.0


def _tool_results(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    blocks = content if isinstance(content, list) else []
    return [b for b in blocks if isinstance(b, dict) and b.get("type") == "tool_result"]


def reply_for(
    request: RecordedRequest, *, chunk_chars: int, first_byte_delay_s: float, delta_delay_s: float
) -> Reply:
    """The turn that answers ``request`` (see the module docstring)."""

    def turn(*blocks: Block) -> Turn:
        return Turn(blocks, first_byte_delay_s=first_byte_delay_s, delta_delay_s=delta_delay_s)

    messages = request.messages
    last = messages[-1] if messages else {}
    results = _tool_results(last)
    if results:  # the tool said how it went: say the same, as a model would
        failed = any(result.get("is_error") for result in results)
        return turn(Text(NOT_BOOKED if failed else BOOKED, chunk_chars=chunk_chars))
    content = last.get("content")
    match = BOOKING.search(content if isinstance(content, str) else "")
    if match is not None and "book_table" in request.tool_names:
        party, name, day, at = match.groups()
        args = {"party_size": int(party), "name": name, "date": day, "time": at}
        return turn(ToolUse("book_table", args))
    return turn(Text(ANSWER, chunk_chars=chunk_chars))


async def serve(first_byte_delay_s: float, delta_delay_s: float, chunk_chars: int) -> None:
    """Serve until SIGTERM/SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with FakeAnthropic(strict=False) as fake:
        fake.set_fallback(
            lambda request: reply_for(
                request,
                chunk_chars=chunk_chars,
                first_byte_delay_s=first_byte_delay_s,
                delta_delay_s=delta_delay_s,
            )
        )
        print(fake.url, flush=True)
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), FORGET_EVERY_S)
            except TimeoutError:
                fake.requests.clear()  # answered or in progress: the handlers keep their own


def main(argv: Sequence[str] | None = None) -> None:
    """Command line."""
    parser = argparse.ArgumentParser(prog="python -m bench._pool_fake")
    parser.add_argument("--first-byte-delay-s", type=float, default=0.6)
    parser.add_argument("--delta-delay-s", type=float, default=0.04)
    parser.add_argument("--chunk-chars", type=int, default=16)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.first_byte_delay_s, args.delta_delay_s, args.chunk_chars))


if __name__ == "__main__":
    main()
