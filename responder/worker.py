"""The LiveKit worker: an ``AgentServer`` that takes explicitly dispatched calls.

One server process registers with LiveKit (Cloud or self-hosted, through ``LIVEKIT_URL``,
``LIVEKIT_API_KEY`` and ``LIVEKIT_API_SECRET``) under the configured ``agent_name``; LiveKit runs
each call in a job process from its pool (processes started by ``forkserver``), or with
``TANDEM_RESPONDER_JOB_EXECUTOR=thread`` in a thread of the worker process. The entry point
and the prewarm function are module-level functions, as the pool requires: it pickles them for
every job process. Prewarm (:func:`prewarm`) runs once per job process with the settings the
worker was built with and loads the models every call of the process shares; the entry point
(:func:`entrypoint`) puts the call together with :func:`~responder.assembly.assemble_call`, the
same function the simulator, the benchmarks and the tests use.

tandem's health endpoint (``GET /`` and ``/worker``, :mod:`responder.health`) is on
``TANDEM_RESPONDER_HTTP_PORT``; Prometheus ``/metrics`` on ``TANDEM_RESPONDER_METRICS_PORT``
(job processes report through prometheus multiprocess files).
"""

from __future__ import annotations

import asyncio
import errno
import functools
import logging
import os
import re
import socket
import threading
import time
import uuid
from typing import Any

from livekit import rtc
from livekit.agents import AgentServer, JobContext, JobExecutorType, JobProcess, room_io

from responder.assembly import ProcessModels, assemble_call, discover_tools, load_process_models
from responder.call import Call
from responder.health import HealthServer, WorkerHealth
from responder.loop_lag import LoopLagProbe
from responder.metrics import ResponderMetrics
from responder.metrics_dir import use_multiprocess_metrics
from responder.process_metrics import JobProcessSampler, forget_closed_processes
from responder.session.budget import BudgetPolicy
from responder.session.control import call_guardrails
from responder.telemetry import trace_job_process
from responder.telephony.answer import wait_until_answered
from responder.telephony.dispatch import read_dispatch
from responder.telephony.phone import phone_hookup
from responder.telephony.switchboard import Switchboard
from shared.config import Settings
from shared.errors import ConfigError
from shared.log import bind_session
from shared.profile import Profile, find_profile
from shared.telemetry import check_tracing

log = logging.getLogger("tandem.responder")

_SETTINGS = "tandem.settings"
_MODELS = "tandem.models"
PROCESS_INIT_TIMEOUT_S = 60.0
"""Longest a job process may take to prewarm (the offline models take seconds on a busy CPU)."""


def prewarm(settings: Settings, profile: Profile, proc: JobProcess) -> None:
    """Once per job executor: keep the worker's settings and load what every call of it shares
    for ``profile`` (the VAD; offline, Whisper and the hibari voice; the tools), recording into
    the OS process's metric series (:func:`process_metrics`). A process executor is a job
    process; a thread executor (``TANDEM_RESPONDER_JOB_EXECUTOR=thread``) is a thread of the
    worker process with its own event loop, so it gets its own VAD and HTTP client (both are
    used from one event loop) and shares the process's series."""
    proc.userdata[_SETTINGS] = settings
    proc.userdata[_MODELS] = load_process_models(settings, profile, process_metrics())


_process_lock = threading.Lock()
_process_metrics: ResponderMetrics | None = None


def process_metrics() -> ResponderMetrics:
    """This OS process's metric series (on prometheus_client's default registry), set up by the
    first job executor that asks, with what goes with them once per process: tracing and log ids
    as the ``OTEL_*`` variables ask (:mod:`responder.telemetry`), and the sampler of the
    process's memory and CPU when someone scrapes the job processes. Once per process, not per
    executor: series registered twice on one registry are an error, and the thread executors
    of one worker share its process."""
    global _process_metrics
    with _process_lock:
        if _process_metrics is None:
            from prometheus_client import REGISTRY

            trace_job_process()
            _process_metrics = ResponderMetrics(REGISTRY)
            if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # someone scrapes the job processes
                JobProcessSampler(_process_metrics).start()
        return _process_metrics


async def entrypoint(ctx: JobContext) -> None:
    """One dispatched call: assemble it, start it in the room and return; the job lives on until
    the call ends (the call then shuts the job down) or the worker shuts the job down (the call
    is then closed). An exception that ends it is counted (``tandem_responder_job_failures``)
    and raised on to LiveKit, which logs it and ends the job."""
    models: ProcessModels = ctx.proc.userdata[_MODELS]
    try:
        await _start_call(ctx, models)
    except Exception:
        models.metrics.job_failures.inc()
        raise


async def _start_call(ctx: JobContext, models: ProcessModels) -> None:
    began = time.perf_counter()
    settings: Settings = ctx.proc.userdata[_SETTINGS]
    session_id = _session_id(ctx.job.id)
    bind_session(session_id)  # every log record of the job carries it
    dispatch = read_dispatch(ctx.job.metadata)
    if dispatch.profile is not None and dispatch.profile != models.profile.id:
        # another business's call: answering it as this one would be worse than not at all
        log.error(
            "dispatched for another profile: not answered (give each profile's workers their "
            "own TANDEM_RESPONDER_AGENT_NAME)",
            extra={
                "session_id": session_id,
                "asked": dispatch.profile,
                "serving": models.profile.id,
            },
        )
        ctx.shutdown(reason="dispatched for another profile")
        return
    # the caller (or, outbound, the callee while it rings): a phone line or a browser/app
    caller = await ctx.wait_for_participant()
    phone = phone_hookup(settings, ctx.room, caller, dispatch)
    call = await assemble_call(
        settings, models, session_id=session_id, dispatch=dispatch, phone=phone
    )
    ctx.add_shutdown_callback(lambda: call.aclose("job shutdown"))
    lag = LoopLagProbe(models.metrics.loop_lag)
    lag.start()
    ctx.add_shutdown_callback(lag.aclose)
    switchboard = phone.switchboard if phone is not None else None
    if switchboard is not None:
        ctx.add_shutdown_callback(lambda: hang_up_after(call, switchboard))
    call.end_listeners.append(lambda reason: ctx.shutdown(reason=f"call ended: {reason}"))
    extra = {"session_id": session_id, "pid": os.getpid(), "profile": models.profile.id}
    line = phone.line.facts() if phone is not None else {"line": "app"}
    log.info("call starting", extra=extra | line)
    log.debug("call room", extra={"session_id": session_id, "room": ctx.room.name})
    try:
        await call.start(
            room=ctx.room,
            room_options=room_io.RoomOptions(participant_identity=caller.identity),
        )
    except BaseException:
        await call.aclose("could not start")
        raise
    if call.phone is not None:
        ctx.room.on("sip_dtmf_received", call.phone.dtmf_received)
    setup_ms = round((time.perf_counter() - began) * 1000, 1)
    log.info("call started", extra={"session_id": session_id, "setup_ms": setup_ms})
    if dispatch.direction == "outbound":
        opening = asyncio.create_task(
            _open_when_answered(ctx, call, caller, settings.sip.ring_timeout_s)
        )
        ctx.add_shutdown_callback(lambda: _cancelled(opening))


KEEPS_THE_ROOM = frozenset({"transferred"})
"""End reasons after which the room stays: the caller talks to the person they were put through
to. After any other end the room is deleted, which hangs up a phone line."""


async def hang_up_after(call: Call, switchboard: Switchboard) -> None:
    """At job shutdown: delete the room unless the call was transferred; close the client."""
    try:
        if call.end_reason not in KEEPS_THE_ROOM:
            await switchboard.hang_up()
    finally:
        await switchboard.aclose()


async def _open_when_answered(
    ctx: JobContext, call: Call, callee: rtc.RemoteParticipant, ring_timeout_s: float
) -> None:
    """Outbound: once the callee's phone is answered, the agent listens for them (a machine?)
    and opens; if it rings out, the call ends (``not_answered``)."""
    if not await wait_until_answered(ctx.room, callee, ring_timeout_s):
        await call.aclose("not_answered")
    elif call.phone is not None:
        call.phone.pickup.answered()
    else:  # dispatched as outbound, but the other side is not a phone line
        call.open_outbound()


async def _cancelled(task: asyncio.Task[None]) -> None:
    task.cancel()


class TandemServer(AgentServer):
    """LiveKit's ``AgentServer`` with tandem's health endpoint (:class:`WorkerHealth`) on
    ``TANDEM_RESPONDER_HTTP_PORT``; its ports are taken before the worker starts, so a port in
    use is one clear error (:class:`ConfigError`) rather than a worker without health."""

    def __init__(self, settings: Settings, **options: Any) -> None:
        super().__init__(**options)
        self.settings = settings
        self.health = WorkerHealth(self)
        self.health_server = HealthServer(self.health)
        self._health_task: asyncio.Task[None] | None = None
        self.on("worker_started", self._serve_health)
        self.on("worker_started", self._forget_closed_processes)

    async def run(self, *, devmode: bool = False, unregistered: bool = False) -> None:
        """Take the health port, then run the worker (see ``AgentServer.run``)."""
        r = self.settings.responder
        self.health.requires_registration = not unregistered
        if r.metrics_port:
            _check_port_free(r.metrics_port, "TANDEM_RESPONDER_METRICS_PORT")
        try:
            self.health_server.bind("", r.http_port)
        except OSError as error:
            raise ConfigError(
                _port_in_use("TANDEM_RESPONDER_HTTP_PORT", r.http_port, error)
            ) from None
        await super().run(devmode=devmode, unregistered=unregistered)

    async def aclose(self) -> None:
        """Close the worker (live jobs are shut down), then the health endpoint."""
        await super().aclose()
        await self.health_server.aclose()

    def _serve_health(self) -> None:
        self._health_task = asyncio.get_running_loop().create_task(self.health_server.start())

    def _forget_closed_processes(self) -> None:
        metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")  # set by AgentServer.run()
        if metrics_dir:
            forget_closed_processes(self._proc_pool, metrics_dir)


def _check_port_free(port: int, variable: str) -> None:
    try:
        socket.create_server(("", port)).close()
    except OSError as error:
        raise ConfigError(_port_in_use(variable, port, error)) from None


def _port_in_use(variable: str, port: int, error: OSError) -> str:
    if error.errno == errno.EADDRINUSE:
        return f"{variable}: port {port} is already in use"
    return f"{variable}: cannot listen on port {port} ({error.strerror})"


def build_server(settings: Settings, profile: Profile | None = None) -> TandemServer:
    """The worker for ``settings``, serving ``profile`` (by default the one ``TANDEM_PROFILE``
    names); the LiveKit connection is checked when it starts."""
    r = settings.responder
    if settings.redis_url is None:
        raise ConfigError(
            "REDIS_URL is not set: the responder and the thinkers must share one Redis "
            "(run `tandem redis` for a local one and export the URL it prints)"
        )
    if profile is None:
        if settings.profile is None:
            raise ConfigError(
                "TANDEM_PROFILE is not set: name the agent profile to serve (a directory with "
                "profile.toml, or an installed profile; `tandem profile new NAME` makes one)"
            )
        profile = find_profile(settings.profile)
    check_tracing()  # so does tracing asked for without the otel extra
    discover_tools(settings, profile)  # a broken plugin or a missing tool stops it here
    BudgetPolicy.for_call(settings, profile)  # so does a budget override the profile refuses
    call_guardrails(settings, profile)  # and a guardrail classifier that cannot be loaded
    metrics_dir = use_multiprocess_metrics(r.metrics_port)
    server = TandemServer(
        settings,
        setup_fnc=functools.partial(prewarm, settings, profile),
        # LiveKit serves its Prometheus endpoint (metrics_port) on this host, so it is every
        # interface: on loopback a Prometheus in another pod or machine could not scrape it.
        # LiveKit's own health server binds it too, on a free port nobody probes (port=0):
        # tandem's health endpoint is on http_port.
        host="0.0.0.0",  # noqa: S104
        port=0,
        prometheus_port=r.metrics_port or None,
        prometheus_multiproc_dir=metrics_dir,
        drain_timeout=int(r.drain_s),
        job_executor_type=JobExecutorType(r.job_executor),
        initialize_process_timeout=PROCESS_INIT_TIMEOUT_S,
        ws_url=settings.livekit_url,
        api_key=_secret(settings.livekit_api_key),
        api_secret=_secret(settings.livekit_api_secret),
    )
    server.rtc_session(entrypoint, agent_name=r.agent_name)
    return server


def _session_id(job_id: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_.:-]", "-", job_id)[:100]
    return cleaned or uuid.uuid4().hex


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None
