"""The machine a benchmark ran on, as its results report it."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any


def machine() -> dict[str, Any]:
    """CPUs (count and model), platform, Python and livekit-agents versions."""
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "livekit_agents": version("livekit-agents"),
    }


def describe(info: dict[str, Any]) -> str:
    """One line for a readable report."""
    return f"machine: {info['cpus']} CPUs, {info['platform']}, Python {info['python']}"


def cpu_model() -> str:
    """The CPU's model name, from /proc/cpuinfo where there is one."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return "unknown"


def microseconds(seconds: list[float]) -> dict[str, float]:
    """How many, and mean, p99 and max in microseconds, of timings in seconds."""
    p99 = statistics.quantiles(seconds, n=100, method="inclusive")[98]
    return {
        "n": len(seconds),
        "mean_us": round(statistics.fmean(seconds) * 1e6, 1),
        "p99_us": round(p99 * 1e6, 1),
        "max_us": round(max(seconds) * 1e6, 1),
    }


def labelled_set_main(
    argv: list[str] | None,
    *,
    description: str,
    repeat: int,
    run: Callable[[int], dict[str, Any]],
    render: Callable[..., str],
) -> int:
    """The command line of a benchmark scored on a labelled set: ``--repeat N`` (timings per
    text), ``--verbose`` (what was scored wrong), ``--json``; prints the result with the
    machine it ran on."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--repeat", type=int, default=repeat, help="timed runs of each text")
    parser.add_argument("--verbose", action="store_true", help="list every text scored wrong")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = parser.parse_args(argv)
    result = run(max(1, args.repeat))
    result["machine"] = machine()
    print(json.dumps(result) if args.json else render(result, verbose=args.verbose))
    return 0
