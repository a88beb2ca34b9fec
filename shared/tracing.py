"""Trace context that travels inside a task, so one trace covers responder -> Redis -> thinker ->
tools -> model. Uses the OpenTelemetry API only: without an SDK configured every span is a no-op;
with one (``opentelemetry-instrument`` or your own set-up) the spans are exported."""

from __future__ import annotations

from opentelemetry import context, propagate, trace


def inject_current() -> dict[str, str]:
    """The current trace context as a carrier for ``TaskRequest.trace`` (W3C ``traceparent``)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def extract(carrier: dict[str, str]) -> context.Context:
    """The context a task's carrier describes (empty carrier: a new trace)."""
    return propagate.extract(carrier)


def tracer(name: str) -> trace.Tracer:
    """A tracer for one of tandem's components."""
    return trace.get_tracer(name)
