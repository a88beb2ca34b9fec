"""A fake OpenTelemetry collector: OTLP over HTTP (``POST /v1/traces``, protobuf), spans kept in
memory for the test that runs it.

The fake is an aiohttp server on ``127.0.0.1`` (ephemeral port). Point any process's real OTLP
exporter at it with ``OTEL_EXPORTER_OTLP_ENDPOINT=collector.url``; each exported
``ExportTraceServiceRequest`` is decoded with the protocol's own messages (opentelemetry-proto)
and its spans land in ``collector.spans`` with the service name and process id of the resource
that sent them. It answers as a collector does (an empty ``ExportTraceServiceResponse``).
Anything else (another path or method, a body that is not protobuf, gzip it cannot read) gets
an error status and lands in ``collector.unexpected``; a test that ends cleanly with unexpected
requests fails::

    async with FakeCollector() as collector:
        ...  # processes export to collector.url
        await collector.wait_for(lambda spans: any(s.name == "thinker.task" for s in spans))
"""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from tests.fakes._local_http import LocalServer

PROTOBUF = "application/x-protobuf"


@dataclass(frozen=True)
class CollectedSpan:
    """One span as the collector received it (ids in lowercase hex, as trace back ends show)."""

    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    """Empty for a root span."""
    service: str
    pid: int | None
    scope: str
    kind: int
    attributes: dict[str, Any] = field(default_factory=dict)
    links: tuple[str, ...] = ()
    """The span ids this span links to."""


class FakeCollector(LocalServer):
    """OTLP/HTTP traces on ``127.0.0.1:<ephemeral port>``; see the module docstring."""

    def __init__(self) -> None:
        super().__init__()
        self.spans: list[CollectedSpan] = []
        self.exports = 0
        """Export requests accepted."""
        self.unexpected: list[str] = []

    def routes(self, app: web.Application) -> None:
        """Every path: only ``POST /v1/traces`` with a protobuf body is accepted."""
        app.router.add_route("*", "/{tail:.*}", self._handle)

    def finished(self, clean: bool) -> None:
        """Fail a test that finished cleanly but sent the collector something it refused."""
        if clean:
            assert not self.unexpected, f"requests the collector refused: {self.unexpected}"

    async def wait_for(
        self, predicate: Callable[[Sequence[CollectedSpan]], bool], *, limit_s: float = 60.0
    ) -> None:
        """Wait until ``predicate(spans)`` holds (checked every 50 ms)."""
        deadline = time.monotonic() + limit_s
        while not predicate(self.spans):
            if time.monotonic() > deadline:
                names = sorted({s.name for s in self.spans})
                raise AssertionError(f"the spans never arrived; received: {names}")
            await asyncio.sleep(0.05)

    async def _handle(self, request: web.Request) -> web.Response:
        what = f"{request.method} {request.path} ({request.content_type})"
        if request.method != "POST" or request.path != "/v1/traces":
            self.unexpected.append(what)
            return web.Response(status=404, text="only POST /v1/traces")
        if request.content_type != PROTOBUF:
            self.unexpected.append(what)
            return web.Response(status=415, text=f"expected {PROTOBUF}")
        body = await request.read()
        try:
            if request.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            export = ExportTraceServiceRequest.FromString(body)
        except (DecodeError, OSError) as error:
            self.unexpected.append(f"{what}: {error}")
            return web.Response(status=400, text="not an ExportTraceServiceRequest")
        self.exports += 1
        self.spans.extend(_spans(export))
        response = ExportTraceServiceResponse().SerializeToString()
        return web.Response(body=response, content_type=PROTOBUF)


def _spans(export: ExportTraceServiceRequest) -> list[CollectedSpan]:
    collected = []
    for resource_spans in export.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                collected.append(
                    CollectedSpan(
                        name=span.name,
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        service=str(resource.get("service.name", "")),
                        pid=resource.get("process.pid"),
                        scope=scope_spans.scope.name,
                        kind=span.kind,
                        attributes=_attributes(span.attributes),
                        links=tuple(link.span_id.hex() for link in span.links),
                    )
                )
    return collected


def _attributes(pairs: Sequence[KeyValue]) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs}


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(item) for item in value.array_value.values]
    if kind is None:
        return None
    return getattr(value, kind)
