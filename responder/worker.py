"""The LiveKit worker: an ``AgentServer`` that takes explicitly dispatched calls.

One server process registers with LiveKit (Cloud or self-hosted, through ``LIVEKIT_URL``,
``LIVEKIT_API_KEY`` and ``LIVEKIT_API_SECRET``) under the configured ``agent_name``; LiveKit
runs each call in a pooled job process. Prewarm loads the silero VAD once per process. The
health endpoint (``GET /`` and ``/worker``) is on ``TANDEM_RESPONDER_HTTP_PORT`` and Prometheus
``/metrics`` on ``TANDEM_RESPONDER_METRICS_PORT`` (job processes report through prometheus
multiprocess files). SIGTERM drains: no new calls, live calls get ``drain_s`` to finish.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import uuid
from typing import Any

from livekit.agents import AgentServer, JobContext, JobProcess

from responder.call import Call
from responder.metrics import ResponderMetrics
from responder.models import build_session, load_offline_speech, profile_vad, speech_profile
from responder.services import open_services
from shared.config import Settings, load_settings
from shared.errors import ConfigError

log = logging.getLogger("tandem.responder")


def prewarm(proc: JobProcess) -> None:
    """Once per job process: load the VAD (and, with no OpenAI key, the offline speech models)
    and create the process's metric series."""
    from prometheus_client import REGISTRY

    settings = load_settings()
    proc.userdata["vad"] = profile_vad(settings)
    if settings.openai_api_key is None:
        proc.userdata["offline"] = load_offline_speech()
    proc.userdata["metrics"] = ResponderMetrics(REGISTRY)


def build_server(settings: Settings) -> AgentServer:
    """The worker for ``settings`` (the LiveKit connection is checked when it starts)."""
    r = settings.responder
    if settings.redis_url is None:
        raise ConfigError(
            "REDIS_URL is not set: the responder and the thinkers must share one Redis "
            "(run `tandem redis` for a local one and export the URL it prints)"
        )
    metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(
        prefix="tandem-metrics-"
    )
    server = AgentServer(
        setup_fnc=prewarm,
        port=r.http_port,
        prometheus_port=r.metrics_port or None,
        prometheus_multiproc_dir=metrics_dir if r.metrics_port else None,
        drain_timeout=int(r.drain_s),
        ws_url=settings.livekit_url,
        api_key=_secret(settings.livekit_api_key),
        api_secret=_secret(settings.livekit_api_secret),
    )

    @server.rtc_session(agent_name=r.agent_name)
    async def entrypoint(ctx: JobContext) -> None:
        await run_job(ctx)

    return server


async def run_job(ctx: JobContext) -> None:
    """One dispatched call: a session in the room, delegation, the floor, metrics."""
    settings = load_settings()
    assert settings.redis_url is not None  # build_server checked it
    session_id = _session_id(ctx.job.id)
    metrics: ResponderMetrics = ctx.proc.userdata["metrics"]
    async with open_services(settings, settings.redis_url.get_secret_value(), metrics) as services:
        profile = speech_profile(settings, ctx.proc.userdata.get("offline"))
        session = build_session(settings, profile=profile, vad_model=ctx.proc.userdata["vad"])
        call = Call(session, services, session_id=session_id, literal_speech=profile.literal_speech)

        async def hang_up(reason: str) -> None:
            await call.aclose(reason)

        ctx.add_shutdown_callback(lambda: hang_up("job shutdown"))
        log.info("call starting", extra={"session_id": session_id, "room": ctx.room.name})
        await call.start(room=ctx.room)
        await call.ended.wait()
        if call.end_reason == "fatal_error":
            ctx.shutdown(reason="speech model failed")


def _session_id(job_id: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_.:-]", "-", job_id)[:100]
    return cleaned or uuid.uuid4().hex


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None
