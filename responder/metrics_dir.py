"""Where the responder's processes write their Prometheus samples, chosen before any of them is
recorded.

A worker's calls run in LiveKit's job processes, so ``/metrics`` merges per-process files
(prometheus_client's multiprocess mode, ``PROMETHEUS_MULTIPROC_DIR``). prometheus_client picks
how a process stores samples when it is first imported, and the worker's own process imports it
with LiveKit, long before LiveKit's ``AgentServer`` sets the variable: the worker's own series
(LiveKit's ``lk_agents_*``: active jobs, child processes, load, process start-up time) would
stay in its memory, out of the merged files. So the directory is chosen here, by the command
that starts a worker, before LiveKit or prometheus_client is imported. This module imports
neither.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


def use_multiprocess_metrics(metrics_port: int) -> str | None:
    """The directory the worker's processes write their samples to, for a worker serving
    ``/metrics`` on ``metrics_port`` (None, and nothing chosen, when it is 0: no scrape).
    ``PROMETHEUS_MULTIPROC_DIR`` if set, else a private one (removed at exit) put in the
    environment, so job processes inherit it and later calls return the same. Call it before
    importing LiveKit or :mod:`responder.worker`; called later, the worker's own process keeps
    its series in memory (only the job processes' are merged)."""
    if not metrics_port:
        return None
    path = os.environ.get(VARIABLE)
    if not path:
        path = tempfile.mkdtemp(prefix="tandem-metrics-")
        atexit.register(shutil.rmtree, path, ignore_errors=True)
        os.environ[VARIABLE] = path
    return path
