"""The machine a benchmark ran on, as its results report it."""

from __future__ import annotations

import os
import platform
from importlib.metadata import version
from typing import Any


def machine() -> dict[str, Any]:
    """CPUs, platform, Python and livekit-agents versions."""
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "livekit_agents": version("livekit-agents"),
    }


def describe(info: dict[str, Any]) -> str:
    """One line for a readable report."""
    return f"machine: {info['cpus']} CPUs, {info['platform']}, Python {info['python']}"
