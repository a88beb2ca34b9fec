"""OpenTelemetry set-up for tandem's processes, from the standard ``OTEL_*`` variables.

Tracing is on only when it is asked for: ``OTEL_TRACES_EXPORTER`` names an exporter (``otlp``,
``console``) or an OTLP endpoint is set (``OTEL_EXPORTER_OTLP_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``). Otherwise nothing is installed and every span stays a
no-op of the OpenTelemetry API. ``OTEL_SDK_DISABLED=true`` and ``OTEL_TRACES_EXPORTER=none`` turn
it off whatever else is set.

Everything else is the SDK's own environment handling: the resource (``OTEL_SERVICE_NAME``,
``OTEL_RESOURCE_ATTRIBUTES``), the sampler (``OTEL_TRACES_SAMPLER``), the OTLP/HTTP exporter
(endpoint, headers, timeout, compression, certificates) and the batch processor
(``OTEL_BSP_*``). Without ``OTEL_SERVICE_NAME`` a process is named after its role
(``tandem-thinker``, ``tandem-responder``), and every process's resource carries its
``process.pid``.

The SDK and the exporter are the ``otel`` extra (``pip install 'tandem-voice[otel]'``): asked
for without them, start-up fails with one line saying so. The responder hands the same provider to
LiveKit, so LiveKit's own spans (agent session, turns, tool calls, speech) join tandem's.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING

from shared.errors import ConfigError

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

log = logging.getLogger(__name__)

EXPORTERS = frozenset({"otlp", "console"})
"""The values of ``OTEL_TRACES_EXPORTER`` tandem installs (comma-separated, like the SDK)."""
SHUTDOWN_TIMEOUT_S = 5.0
"""Longest a process waits at exit for its last spans to reach the collector."""
_ENDPOINTS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
_installed: dict[int, TracerProvider] = {}
"""The provider this process installed, by process id (a forked child installs its own)."""


def exporters_asked(environ: Mapping[str, str]) -> frozenset[str]:
    """The span exporters the environment asks for (empty: tracing stays off).

    :class:`ConfigError` for an exporter or OTLP protocol tandem does not ship."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return frozenset()
    raw = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    named = frozenset(part.strip() for part in raw.split(",") if part.strip())
    if not named and any(environ.get(name, "").strip() for name in _ENDPOINTS):
        named = frozenset({"otlp"})  # an endpoint alone asks for OTLP, as the SDK's default
    if "none" in named:
        return frozenset()
    unknown = sorted(named - EXPORTERS)
    if unknown:
        raise ConfigError(
            f"OTEL_TRACES_EXPORTER: {', '.join(unknown)} is not available; "
            f"use {' or '.join(sorted(EXPORTERS))} (or none)"
        )
    protocol = (
        environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()
    if "otlp" in named and protocol != "http/protobuf":
        raise ConfigError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL: {protocol!r} is not supported; tandem exports "
            "traces with OTLP over HTTP (http/protobuf)"
        )
    return named


def check_tracing(environ: Mapping[str, str] | None = None) -> None:
    """Fail now, with one line (:class:`ConfigError`), if the environment asks for tracing that
    cannot be set up: an exporter tandem does not ship, or the ``otel`` extra missing. For a
    process whose tracing is configured later, elsewhere (LiveKit's job processes)."""
    exporters = exporters_asked(os.environ if environ is None else environ)
    if exporters:
        _sdk_modules(exporters)


def configure_tracing(
    service_name: str, environ: Mapping[str, str] | None = None
) -> TracerProvider | None:
    """Install a tracer provider for this process as the environment asks (OpenTelemetry's
    global one); returns it, or None when tracing is not asked for (nothing changes). The
    responder also hands it to LiveKit (:mod:`responder.worker`).

    Idempotent within a process. Call :func:`shutdown_tracing` before the process exits."""
    env = os.environ if environ is None else environ
    exporters = exporters_asked(env)
    if not exporters:
        return None
    if (provider := _installed.get(os.getpid())) is not None:
        return provider
    provider = _new_provider(service_name, exporters)
    from opentelemetry import trace

    trace.set_tracer_provider(provider)
    _installed[os.getpid()] = provider
    log.info("tracing on", extra={"exporters": sorted(exporters), "service": service_name})
    return provider


def _sdk_modules(exporters: frozenset[str]) -> None:
    """Import what ``exporters`` need; :class:`ConfigError` naming the extra if missing."""
    try:
        import opentelemetry.sdk.trace

        if "otlp" in exporters:
            import opentelemetry.exporter.otlp.proto.http.trace_exporter  # noqa: F401
    except ImportError as error:
        raise ConfigError(
            f"tracing is asked for (OTEL_* variables) but {error.name} is not installed: "
            "pip install 'tandem-voice[otel]'"
        ) from None


def _new_provider(service_name: str, exporters: frozenset[str]) -> TracerProvider:
    _sdk_modules(exporters)
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SimpleSpanProcessor,
    )

    resource = Resource.create()  # OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: service_name}))
    resource = resource.merge(Resource({"process.pid": os.getpid()}))
    provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    if "otlp" in exporters:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    if "console" in exporters:
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    return provider


def shutdown_tracing(timeout_s: float = SHUTDOWN_TIMEOUT_S) -> None:
    """Export the spans still buffered and stop this process's provider (no-op without one).

    Waits at most ``timeout_s``: an unreachable collector must not hold up a shutdown (the
    SDK's own shutdown has no time limit), so the rest is dropped after that."""
    provider = _installed.pop(os.getpid(), None)
    if provider is None:
        return
    worker = threading.Thread(target=provider.shutdown, name="tandem-otel-shutdown", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        log.warning("spans not exported before shutdown", extra={"timeout_s": timeout_s})
