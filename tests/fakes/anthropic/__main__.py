"""Stand-alone: ``python -m tests.fakes.anthropic`` (benchmarks)."""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Sequence

from tests.fakes.anthropic.script import Turn
from tests.fakes.anthropic.server import FakeAnthropic


def main(argv: Sequence[str] | None = None) -> None:
    """Serve a fake answering every request with the same turn until SIGINT/SIGTERM.

    Prints its URL on the first line of stdout. Run it in its own process for load tests:
    at ~1000 concurrent streams the SDK client, not the fake, is the bottleneck, and sharing
    one event loop skews both.
    """
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.anthropic")
    parser.add_argument("--text", default="This is the fake thinker's answer.")
    parser.add_argument("--first-byte-delay-s", type=float, default=2.0)
    parser.add_argument("--delta-delay-s", type=float, default=0.0)
    args = parser.parse_args(argv)
    turn = Turn.say(
        args.text, first_byte_delay_s=args.first_byte_delay_s, delta_delay_s=args.delta_delay_s
    )
    asyncio.run(_serve_until_signalled(turn))


async def _serve_until_signalled(turn: Turn) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with FakeAnthropic(strict=False) as fake:
        fake.set_fallback(lambda _request: turn)
        print(fake.url, flush=True)
        await stop.wait()


if __name__ == "__main__":
    main()
