"""Tracing in the responder's processes: each LiveKit job process (where calls run) installs
its own tracer provider from the ``OTEL_*`` variables (:mod:`shared.telemetry`; a provider set in
the worker is not inherited by the pool's processes, which a forkserver starts), hands it to
LiveKit so LiveKit's spans join tandem's, stamps trace and session ids on the process's log
records, and exports what is left when the process exits.
"""

from __future__ import annotations

from multiprocessing import util

from shared.log import stamp_handlers
from shared.telemetry import configure_tracing, shutdown_tracing

SERVICE_NAME = "tandem-responder"
"""The service name of the responder's spans when ``OTEL_SERVICE_NAME`` is not set."""
_EXIT_PRIORITY = 10
"""Before multiprocessing's own finalizers: the spans leave while the process can still send."""


def trace_job_process() -> None:
    """Set up tracing and log ids in this job process (from the prewarm function); a no-op for
    tracing when the environment does not ask for it."""
    stamp_handlers()  # LiveKit's queue handler carries the records to the worker's log
    provider = configure_tracing(SERVICE_NAME)
    if provider is None:
        return
    from livekit.agents import telemetry

    # LiveKit's spans (session, turns, tool calls, speech) on the same provider, without the
    # attributes LiveKit marks as personal data (transcripts, room names, tool arguments)
    telemetry.set_tracer_provider(provider, allow_pii=False)
    # a job process ends through multiprocessing, which runs its finalizers but not atexit
    util.Finalize(provider, shutdown_tracing, exitpriority=_EXIT_PRIORITY)
