"""The machine a benchmark ran on, as its results report it."""

from __future__ import annotations

import os
import platform
import statistics
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
