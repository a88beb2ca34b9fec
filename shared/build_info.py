"""What build is running: the labels of the ``tandem_build_info`` metric of every process."""

from __future__ import annotations

import importlib.metadata
import platform

DISTRIBUTION = "tandem-voice"
"""The name tandem is installed under (``pyproject.toml``)."""


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"  # run from a source tree that was never installed


def build_labels() -> dict[str, str]:
    """``version`` (of tandem), ``python`` and ``livekit_agents``: the versions a bug report
    or a regression hunt needs first. A version is ``unknown`` when it is not installed."""
    return {
        "version": _version(DISTRIBUTION),
        "python": platform.python_version(),
        "livekit_agents": _version("livekit-agents"),
    }
