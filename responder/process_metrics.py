"""Memory and CPU of the responder's job processes, where prometheus multiprocess mode can see
them.

LiveKit's ``/metrics`` merges only what job processes write to their multiprocess files, so
prometheus_client's ``ProcessCollector`` (a custom collector) never reaches it. Each job process
runs a :class:`JobProcessSampler` instead: it reads its own ``ProcessCollector`` every few
seconds into the ``liveall`` gauges of :class:`~responder.metrics.ResponderMetrics`. Those keep
one series per process (a ``pid`` label); :func:`forget_closed_processes` drops a process's
series when it ends (``mark_process_dead``), which also takes a crashed call out of
``tandem_responder_calls_active``.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from prometheus_client import ProcessCollector
from prometheus_client.multiprocess import mark_process_dead

from responder.metrics import ResponderMetrics

log = logging.getLogger("tandem.responder.metrics")

SAMPLE_INTERVAL_S = 10.0
"""How often a job process samples itself; a scrape sees values at most this old."""


class JobProcessSampler:
    """Copies this process's resident memory and CPU time into ``metrics`` every
    ``interval_s`` from a daemon thread (Linux: read from ``/proc``; elsewhere nothing)."""

    def __init__(self, metrics: ResponderMetrics, interval_s: float = SAMPLE_INTERVAL_S) -> None:
        self._metrics = metrics
        self._interval_s = interval_s
        self._collector = ProcessCollector(registry=None)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample(self) -> None:
        """Read the process now."""
        for family in self._collector.collect():
            for sample in family.samples:
                if sample.name == "process_resident_memory_bytes":
                    self._metrics.job_resident_memory_bytes.set(sample.value)
                elif sample.name == "process_cpu_seconds_total":
                    self._metrics.job_cpu_seconds.set(sample.value)

    def start(self) -> None:
        """Sample now, then every interval until :meth:`stop` or the process ends."""
        self.sample()
        self._thread = threading.Thread(target=self._run, name="tandem-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop sampling."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self.sample()
            except Exception:  # a sampler must never take a job process down
                log.debug("job process sample failed", exc_info=True)


def forget_closed_processes(pool: Any, metrics_dir: str) -> None:
    """When a job process of LiveKit's ``pool`` closes (ended, crashed or killed), delete its
    live-gauge files in ``metrics_dir``: its memory, CPU and open calls leave the scrape.
    Counters and histograms stay (they are totals). A thread executor closing is ignored: its
    calls ran in the worker's own process, whose files stay."""

    def closed(proc: Any) -> None:
        # a thread executor has no pid: its calls ran in the worker process, which lives on
        pid = getattr(proc, "pid", None)
        if pid is not None:
            mark_process_dead(pid, metrics_dir)  # type: ignore[no-untyped-call]

    pool.on("process_closed", closed)
