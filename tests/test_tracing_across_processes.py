"""One delegated turn is one trace across the two processes that serve it: the production worker
runs a call in a LiveKit job process (``simulate_job(fake_job=True)``, as in
tests/test_worker_job.py), the real thinker process answers with Claude (the real SDK against the
fake Messages API) and a tool, and both export their spans with the real OTLP exporter, configured
from ``OTEL_*`` variables only, to a fake collector that keeps them in memory here."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path

import pytest

from shared.embedded_redis import EmbeddedRedis
from shared.thinker_process import ThinkerProcess
from tests.fakes.anthropic import FakeAnthropic, RecordedRequest, Turn
from tests.fakes.otlp_collector import CollectedSpan, FakeCollector
from tests.fakes.realtime import FakeRealtime, Script
from tests.test_worker_job import QUESTION, model_policy
from tests.worker_process import clean_env, free_port, logged_process

pytestmark = pytest.mark.timeout(240)

ANSWER = "On Friday we serve dinner from 18:30 to 23:00."
CHAIN = (
    "responder.delegate",
    "bus.submit",
    "bus.pickup",
    "bus.publish",
    "responder.result",
    "responder.speech",
)
"""Each span the parent of the next, in this order; the thinker's work (``thinker.task``, its
``thinker.model`` requests and ``thinker.tool`` calls) hangs off ``bus.pickup`` too, before
the answer is published."""


def claude(request: RecordedRequest) -> Turn:
    """Claude looks the hours up, then answers."""
    looked_up = any(
        isinstance(m["content"], list) and m["content"][0].get("type") == "tool_result"
        for m in request.messages
    )
    if not looked_up:
        return Turn.call("search_knowledge", {"query": "opening hours on Friday"})
    return Turn.say(f"[answer] {ANSWER}")


def _turn_spans(spans: Sequence[CollectedSpan]) -> dict[str, list[CollectedSpan]]:
    """The spans of the delegated task, by name."""
    task_ids = {s.attributes.get("tandem.task_id") for s in spans if s.name == "bus.submit"}
    by_name: dict[str, list[CollectedSpan]] = {}
    for span in spans:
        if span.attributes.get("tandem.task_id") in task_ids - {None}:
            by_name.setdefault(span.name, []).append(span)
    return by_name


def _chain(spans: Sequence[CollectedSpan]) -> list[CollectedSpan]:
    """The longest prefix of :data:`CHAIN` found, each span a child of the one before."""
    turn = _turn_spans(spans)
    found = turn.get(CHAIN[0], [])[:1]
    for name in CHAIN[1:]:
        children = [s for s in turn.get(name, []) if s.parent_span_id == found[-1].span_id]
        if not children:
            break
        found.append(children[0])
    return found


def _spoken(spans: Sequence[CollectedSpan]) -> bool:
    return len(_chain(spans)) == len(CHAIN)


async def test_a_delegated_turn_is_one_trace_across_the_responder_and_the_thinker(
    tmp_path: Path, redis_server: EmbeddedRedis
) -> None:
    prefix = f"otel{uuid.uuid4().hex[:8]}"
    async with (
        FakeCollector() as collector,
        FakeAnthropic() as model,
        FakeRealtime(Script(policy=model_policy), strict=False) as realtime,
    ):
        model.set_fallback(claude)
        env = clean_env(
            REDIS_URL=redis_server.url,
            TANDEM_BUS_PREFIX=prefix,
            TANDEM_PROFILE="restaurant",
            OTEL_EXPORTER_OTLP_ENDPOINT=collector.url,
            OTEL_BSP_SCHEDULE_DELAY="100",
        )
        thinker_env = env | {"ANTHROPIC_API_KEY": "sk-ant-test", "ANTHROPIC_BASE_URL": model.url}
        thinker = ThinkerProcess(redis_server.url, tmp_path / "thinker.log", env=thinker_env)
        worker_env = env | {
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_BASE_URL": realtime.base_url,
            "TANDEM_RESPONDER_TURN_DETECTION": "server",
            "TANDEM_RESPONDER_HTTP_PORT": str(free_port()),
            "TANDEM_RESPONDER_DRAIN_S": "2",
        }
        args = [sys.executable, "-m", "tests.fakes.simulated_job", "room-otel"]
        await asyncio.to_thread(thinker.start)
        try:
            with logged_process(args, worker_env, tmp_path) as worker:
                started = await worker.until_logged("call starting", limit_s=120)
                job_pid = int(started["pid"])
                await collector.wait_for(_spoken, limit_s=90)
                assert await worker.stop() == 0, worker.text()
        finally:
            await asyncio.to_thread(thinker.stop)
        # what each process still held went out as it shut down
        await collector.wait_for(
            lambda spans: any(s.name == "job_entrypoint" for s in spans), limit_s=30
        )

    turn = _turn_spans(collector.spans)
    by_id = {span.span_id: span for span in collector.spans}
    # one trace, and the parent links form the chain
    chain = _chain(collector.spans)
    assert [span.name for span in chain] == list(CHAIN), sorted(turn)
    one = dict(zip(CHAIN, chain, strict=True))
    trace_ids = {span.trace_id for spans in turn.values() for span in spans}
    assert len(trace_ids) == 1, turn
    assert len(turn["bus.submit"]) == len(turn["thinker.task"]) == 1
    (one["thinker.task"],) = turn["thinker.task"]
    (one["thinker.tool"],) = turn["thinker.tool"]
    assert one["thinker.task"].parent_span_id == one["bus.pickup"].span_id
    models = turn["thinker.model"]
    assert [m.attributes["tandem.step"] for m in models] == [0, 1]
    assert {m.parent_span_id for m in models} == {one["thinker.task"].span_id}
    tool = one["thinker.tool"]
    assert tool.attributes["tandem.tool"] == "search_knowledge"
    assert by_id[tool.parent_span_id].name == "thinker.model"  # started as its block completed
    assert one["bus.publish"].attributes["tandem.event"] == "result"
    assert one["responder.result"].attributes["tandem.event"] == "result"
    # the early fact's event carries no context: its span continues the task's own bus.submit
    (early,) = [s for s in turn["responder.result"] if s.attributes["tandem.event"] == "partial"]
    assert early.parent_span_id == one["bus.submit"].span_id

    # LiveKit's spans are in the same trace: the delegate tool call is LiveKit's function_tool
    delegate_call = by_id[one["responder.delegate"].parent_span_id]
    assert delegate_call.name == "function_tool"
    assert delegate_call.trace_id in trace_ids

    # from two processes, each named as its role
    thinker_side = {"bus.pickup", "thinker.task", "thinker.model", "thinker.tool", "bus.publish"}
    for name, spans in turn.items():
        service = "tandem-thinker" if name in thinker_side else "tandem-responder"
        assert {span.service for span in spans} == {service}, name
    assert one["responder.speech"].pid == job_pid
    assert one["thinker.task"].pid not in (job_pid, worker.pid, None)

    # ids only: the session and the task, never what was said
    session_ids = {
        span.attributes.get("tandem.session_id") for spans in turn.values() for span in spans
    } - {None}
    assert len(session_ids) == 1
    for span in collector.spans:
        assert not any("pii" in key.split(".") for key in span.attributes), span
        assert QUESTION not in repr(span.attributes), span
        assert ANSWER not in repr(span.attributes), span

    # the job's log lines carry the trace and the session they belong to
    (line,) = worker.find("call started")
    assert line["session_id"] in session_ids
    assert line["trace_id"] in trace_ids
