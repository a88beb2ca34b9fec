"""The delegation tools in a text-mode ``AgentSession.run``: what reaches the bus, what the model
learns, and that delegating costs no extra model round trip."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from livekit.agents import llm
from livekit.agents.voice.run_result import RunResult
from redis.asyncio import Redis

from responder.assembly import assemble_call
from responder.call import Call
from responder.models import SpeechProfile
from shared.config import BusSettings
from shared.embedded_redis import EmbeddedRedis
from shared.keys import Keys
from shared.wire import TaskRequest, decode_command
from tests.fakes.scripted_llm import ScriptedLLM, Turn
from tests.responder_harness import call_settings, process_models


@asynccontextmanager
async def text_call(
    redis_url: str, settings: BusSettings, turns: list[Turn]
) -> AsyncIterator[tuple[Call, ScriptedLLM]]:
    """A text-mode call assembled the production way, its model scripted."""
    model = ScriptedLLM(turns)
    async with httpx.AsyncClient() as http:
        call = await assemble_call(
            call_settings(redis_url, settings),
            process_models(http),
            session_id=f"text-{uuid.uuid4().hex[:8]}",
            greet=False,
            speech=SpeechProfile("realtime", llm=model),  # the scripted model stands in
        )
        await call.start()
        try:
            yield call, model
        finally:
            await call.aclose()


async def submitted(redis: Redis, settings: BusSettings) -> list[TaskRequest]:
    entries = await redis.xrange(Keys(settings.prefix).tasks)
    commands = [decode_command(fields or {}) for _, fields in entries or []]
    return [command for command in commands if isinstance(command, TaskRequest)]


def output_text(result: RunResult[Any], *, is_error: bool = False) -> str:
    """The next event's tool output text (it must be a tool output)."""
    item = result.expect.next_event().is_function_call_output(is_error=is_error).event().item
    assert isinstance(item, llm.FunctionCallOutput)
    return item.output


async def test_delegating_submits_a_task_with_epoch_and_context_and_costs_no_extra_turn(
    redis: Redis, redis_server: EmbeddedRedis, settings: BusSettings
) -> None:
    turns = [
        Turn(text="Hello! How can I help?"),
        Turn(
            text="Let me check Friday at eight.",
            calls=[("delegate", {"request": "table for 4 on Friday at 20:00"})],
        ),
    ]
    async with text_call(redis_server.url, settings, turns) as (call, model):
        await call.session.run(user_input="Hi there")
        result: RunResult[Any] = await call.session.run(
            user_input="A table for four on Friday at eight?"
        )
        result.expect.skip_next_event_if(type="message", role="assistant")
        result.expect.next_event().is_function_call(name="delegate")
        assert "Task 1 started" in output_text(result)
        result.expect.no_more_events()  # no second model call just to acknowledge
        assert not model.turns
        (task,) = await submitted(redis, settings)
        assert task.request == "table for 4 on Friday at 20:00"
        assert task.epoch == 2  # the second caller turn
        assert task.tier == "fast"
        assert [(t.role, t.text) for t in task.context][:2] == [
            ("caller", "Hi there"),
            ("agent", "Hello! How can I help?"),
        ]
        assert call.delegator.tasks.by_number(1) is not None


async def test_a_correction_cancels_the_task_it_replaces_and_cancel_request_stops_one(
    redis: Redis, redis_server: EmbeddedRedis, settings: BusSettings
) -> None:
    turns = [
        Turn("Checking.", calls=[("delegate", {"request": "table for 4 Friday 20:00"})]),
        Turn(
            "Nine, then.",
            calls=[("delegate", {"request": "table for 4 Friday 21:00", "replaces_task": 1})],
        ),
        Turn(calls=[("cancel_request", {"task": 2})]),
        Turn(text="Done, I've stopped that."),
        Turn(calls=[("cancel_request", {"task": 7})]),
        Turn(text="There was nothing to stop."),
    ]
    async with text_call(redis_server.url, settings, turns) as (call, _):
        await call.session.run(user_input="Table for four Friday at eight")
        result: RunResult[Any] = await call.session.run(user_input="Actually nine")
        result.expect.skip_next_event_if(type="message", role="assistant")
        result.expect.next_event().is_function_call(name="delegate")
        assert "Task 1 was stopped" in output_text(result)
        first, second = await submitted(redis, settings)
        assert await redis.hget(Keys(settings.prefix).cancels(call.session_id), first.task_id)
        result = await call.session.run(user_input="Forget it")
        result.expect.next_event().is_function_call(name="cancel_request")
        assert "cancelled" in output_text(result)
        assert await redis.hget(Keys(settings.prefix).cancels(call.session_id), second.task_id)
        result = await call.session.run(user_input="And cancel task seven")
        result.expect.next_event().is_function_call(name="cancel_request")
        assert "no task 7" in output_text(result, is_error=True)
        assert call.metrics.tasks == {"superseded": 1, "cancelled": 1}


async def test_a_silent_delegation_is_acknowledged_for_the_model(
    redis: Redis, redis_server: EmbeddedRedis, settings: BusSettings
) -> None:
    turns = [
        Turn(calls=[("delegate", {"request": "opening hours on Sunday"})]),
        Turn(text="Let me check that for you."),  # the floor asks for an acknowledgement
    ]
    async with text_call(redis_server.url, settings, turns) as (call, model):
        await call.session.run(user_input="When are you open on Sunday?")
        await call.session.wait_for_idle()
        assert not model.turns
        last = model.contexts[-1].items[-1]
        assert isinstance(last, llm.ChatMessage)
        assert "Say exactly" in (last.text_content or "")
        assert len(call.floor.stats.action_latency_s) == 1


async def test_a_delegation_without_a_request_is_refused_with_advice(
    redis: Redis, redis_server: EmbeddedRedis, settings: BusSettings
) -> None:
    turns = [Turn(calls=[("delegate", {"request": "  "})]), Turn(text="What would you like?")]
    async with text_call(redis_server.url, settings, turns) as (call, _):
        result: RunResult[Any] = await call.session.run(user_input="mm")
        result.expect.next_event().is_function_call(name="delegate")
        assert "request" in output_text(result, is_error=True)
        assert await submitted(redis, settings) == []
