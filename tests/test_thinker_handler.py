"""The thinker's task handler: tools through the allowlist with stable idempotency keys,
confirmation, progress, metrics, the trace carried in the task, and the health endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from redis.asyncio import Redis

from shared.bus import TaskContext, TaskOutcome
from shared.tracing import extract, inject_current, tracer
from shared.wire import TaskRequest
from tests.tool_helpers import friday_next_week
from thinker.brain import BrainContext
from thinker.handler import ThinkerHandler
from thinker.metrics import HealthServer, ThinkerMetrics
from tools import ToolRegistry, derive_idempotency_key

FRIDAY = friday_next_week()
BOOKING = {"name": "Ana", "date": FRIDAY, "time": "20:00", "party_size": 4}
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

_EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="module", autouse=True)
def _tracing() -> None:
    """One SDK tracer provider for this process (OpenTelemetry allows setting it once)."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
    trace.set_tracer_provider(provider)


class ScriptedBrain:
    """A brain that runs a fixed list of tool calls and reports what came back."""

    name = "scripted"

    def __init__(self, calls: list[tuple[str, dict[str, Any]]]) -> None:
        self.calls = calls

    async def answer(self, ctx: BrainContext) -> TaskOutcome:
        results = [await ctx.call_tool(name, args) for name, args in self.calls]
        return TaskOutcome(
            text=" | ".join(r.content for r in results),
            data={"errors": [r.is_error for r in results]},
        )


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def handler_for(
    brain: ScriptedBrain, redis: Redis, http: httpx.AsyncClient, metrics: ThinkerMetrics
) -> ThinkerHandler:
    return ThinkerHandler(brain, ToolRegistry.discover(), redis, http, metrics, prefix="test")


def bus_context(
    task: TaskRequest, events: list[tuple[str, str]], tools: list[str] | None = None
) -> TaskContext:
    async def emit(kind: str, text: str, tool: str) -> None:
        events.append((kind, text))
        if tools is not None and kind == "progress":
            tools.append(tool)

    return TaskContext(task, 1, emit)


def make_task(**fields: Any) -> TaskRequest:
    return TaskRequest.create(
        session_id="call-1",
        request="book for Ana",
        epoch=2,
        timeout_s=10,
        task_id="task-1",
        trace={"traceparent": TRACEPARENT},
        **fields,
    )


async def test_a_redelivered_task_books_once_and_progress_reaches_the_caller(
    redis: Redis, http: httpx.AsyncClient
) -> None:
    metrics = ThinkerMetrics()
    brain = ScriptedBrain([("book_table", BOOKING), ("book_table", BOOKING | {"time": "21:00"})])
    handler = handler_for(brain, redis, http, metrics)
    events: list[tuple[str, str]] = []
    progress_tools: list[str] = []
    first = await handler(bus_context(make_task(confirmed=True), events, progress_tools))
    again = await handler(bus_context(make_task(confirmed=True), []))  # delivered a second time
    assert first.data["errors"] == [False, False]
    first_refs = [part.split()[2] for part in first.text.split(" | ")]
    again_refs = [part.split()[3] for part in again.text.split(" | ")]
    assert again.text.startswith("Already booked.")
    assert again_refs == first_refs  # same keys, same bookings: nothing booked twice
    assert len(set(first_refs)) == 2  # two different calls in one task are two bookings
    assert events[0] == ("progress", f"booking a table for 4 on {FRIDAY} at 20:00")
    assert progress_tools[0] == "book_table"  # the responder times tools by this name
    assert metrics.tool_seconds.labels("book_table", "ok")._sum.get() > 0


async def test_what_a_side_effect_tool_did_is_remembered_under_its_call_key(
    redis: Redis, http: httpx.AsyncClient
) -> None:
    brain = ScriptedBrain([("book_table", BOOKING), ("get_weather", {"city": "Porto"})])
    remembered: list[tuple[str, str]] = []

    async def remember(key: str, text: str) -> None:
        remembered.append((key, text))

    async def emit(kind: str, text: str, tool: str) -> None:
        return None

    task = make_task(confirmed=True)
    outcome = await handler_for(brain, redis, http, ThinkerMetrics())(
        TaskContext(task, 1, emit, remember)
    )
    booked = outcome.text.split(" | ")[0]
    key = derive_idempotency_key(task.idempotency_key, "book_table", 1)
    assert remembered == [(key, booked)]  # the booking, not the weather (no side effects)


async def test_tools_outside_the_tasks_allowlist_or_unconfirmed_do_not_run(
    redis: Redis, http: httpx.AsyncClient
) -> None:
    brain = ScriptedBrain([("book_table", BOOKING), ("get_weather", {"city": "Porto"})])
    handler = handler_for(brain, redis, http, ThinkerMetrics())
    outcome = await handler(bus_context(make_task(tools=("book_table",)), []))
    refused, unknown = outcome.text.split(" | ")
    assert "confirmation" in refused
    assert unknown == "no tool named 'get_weather' is available for this task"
    assert outcome.data["errors"] == [True, True]


async def test_the_task_span_continues_the_trace_the_task_carried(
    redis: Redis, http: httpx.AsyncClient
) -> None:
    _EXPORTER.clear()
    brain = ScriptedBrain([("calculate", {"expression": "2+2"})])
    await handler_for(brain, redis, http, ThinkerMetrics())(bus_context(make_task(), []))
    spans = {span.name: span for span in _EXPORTER.get_finished_spans()}
    assert {"thinker.task", "thinker.tool"} <= set(spans)
    trace_id = int(TRACEPARENT.split("-")[1], 16)
    assert spans["thinker.task"].context.trace_id == trace_id
    assert spans["thinker.tool"].parent is not None
    assert spans["thinker.tool"].parent.span_id == spans["thinker.task"].context.span_id


async def test_health_and_metrics_are_served(redis: Redis, http: httpx.AsyncClient) -> None:
    metrics = ThinkerMetrics()
    healthy = True
    scrapes = 0

    async def is_healthy() -> bool:
        return healthy

    async def before_scrape() -> None:
        nonlocal scrapes
        scrapes += 1
        metrics.dead_letters.set(3)

    server = HealthServer(metrics, is_healthy, before_scrape)
    await server.start("127.0.0.1", 0)
    try:
        base = f"http://127.0.0.1:{server.port}"
        assert (await http.get(f"{base}/healthz")).status_code == 200
        healthy = False
        assert (await http.get(f"{base}/healthz")).status_code == 503
        text = (await http.get(f"{base}/metrics")).text
        assert "tandem_bus_dead_letters 3.0" in text
        assert "tandem_thinker_tasks_in_flight" in text
        assert scrapes == 1
    finally:
        await server.stop()


def test_a_trace_started_by_a_responder_travels_in_the_task() -> None:
    with tracer("tandem.responder").start_as_current_span("responder.delegate") as span:
        carrier = inject_current()
    assert carrier["traceparent"].split("-")[1] == f"{span.get_span_context().trace_id:032x}"
    restored = trace.get_current_span(extract(carrier)).get_span_context()
    assert restored.trace_id == span.get_span_context().trace_id
