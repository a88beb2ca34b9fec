"""Trace context that travels inside a task and back in its answer, so one trace covers a
delegated turn: responder -> Redis -> thinker -> model and tools -> Redis -> responder -> speech.
Uses the OpenTelemetry API only: without an SDK configured every span is a no-op; with one
(:mod:`shared.telemetry`, ``opentelemetry-instrument`` or your own set-up) the spans are
exported.

The spans of a delegated turn, parent first: ``responder.delegate`` (the delegate tool; a child
of LiveKit's ``function_tool`` span when LiveKit traces too), ``bus.submit``, then in the thinker
``bus.pickup``, ``thinker.task``, ``thinker.model`` and ``thinker.tool``, and ``bus.publish``
(the terminal event, carrying its context back), then in the responder ``responder.result`` and
``responder.speech`` (the floor saying it). Attributes name the session and the task
(:func:`task_attributes`), never what anyone said."""

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


def task_context(carrier: dict[str, str]) -> context.Context:
    """The context a task's work runs in: the current one when a span is current (the bus's
    ``bus.pickup``), else the one the task's carrier describes."""
    if trace.get_current_span().get_span_context().is_valid:
        return context.get_current()
    return extract(carrier)


def task_attributes(session_id: str, task_id: str) -> dict[str, str]:
    """The attributes that tie a span to its call and task (ids only: no personal data)."""
    return {"tandem.session_id": session_id, "tandem.task_id": task_id}


def tracer(name: str) -> trace.Tracer:
    """A tracer for one of tandem's components."""
    return trace.get_tracer(name)
