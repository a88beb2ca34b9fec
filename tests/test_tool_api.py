"""The plugin API: what @tool accepts and refuses, and how invoke turns every outcome into a
result the model can read."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, BeforeValidator, Field
from redis.asyncio import Redis

from tests.tool_helpers import make_context
from tools import (
    ToolContext,
    ToolDefinitionError,
    ToolError,
    ToolRegistry,
    derive_idempotency_key,
    invoke,
    to_anthropic,
    to_livekit,
    tool,
)


class CityArgs(BaseModel):
    city: str = Field(description="City name, e.g. 'Lisbon'")


@tool(timeout_s=0.2, latency="slow")
async def slow_weather(ctx: ToolContext, args: CityArgs) -> str:
    """Weather for a city."""
    if args.city == "nowhere":
        raise ToolError("which city?")
    if args.city == "slow":
        await asyncio.sleep(5)
    if args.city == "crash":
        raise RuntimeError("database password is hunter2")
    if args.city == "big":
        return "x" * 10_000
    await ctx.progress(f"looking up {args.city}")
    return f"sunny in {args.city}"


@tool(responder_safe=True, max_output_chars=200)
async def add(
    ctx: ToolContext, a: Annotated[int, Field(description="first")], b: int = 2
) -> dict[str, int]:
    """Add two numbers."""
    return {"sum": a + b}


@tool(side_effects=True, needs_confirmation=True, progress="texting {text!r} to the caller")
async def send_sms(ctx: ToolContext, text: str) -> str:
    """Send a text message to the caller."""
    return f"sent with key {ctx.idempotency_key}"


def test_the_docstring_and_the_args_model_become_the_model_facing_definition() -> None:
    definition = to_anthropic(slow_weather)
    assert definition["name"] == "slow_weather"
    assert definition["description"] == "Weather for a city."
    schema = definition["input_schema"]
    assert schema["type"] == "object"
    assert schema["required"] == ["city"]
    assert schema["properties"]["city"]["description"] == "City name, e.g. 'Lisbon'"
    assert (slow_weather.latency, slow_weather.timeout_s) == ("slow", 0.2)


def test_typed_keyword_parameters_become_an_args_model() -> None:
    schema = add.input_schema()
    assert schema["required"] == ["a"]
    assert schema["properties"]["a"]["description"] == "first"
    assert schema["properties"]["b"]["default"] == 2
    assert schema["additionalProperties"] is False


async def test_the_decorated_function_stays_directly_callable(redis: Redis) -> None:
    ctx = make_context(redis)
    assert await slow_weather(ctx, CityArgs(city="Porto")) == "sunny in Porto"
    assert await add(ctx, a=1, b=5) == {"sum": 6}


def _definition_error(source: str) -> str:
    namespace: dict[str, Any] = {
        "tool": tool,
        "ToolContext": ToolContext,
        "CityArgs": CityArgs,
        "BaseModel": BaseModel,
    }
    with pytest.raises(ToolDefinitionError) as raised:
        exec(source, namespace)  # noqa: S102 - test-only definitions of bad tools
    return str(raised.value)


@pytest.mark.parametrize(
    ("source", "advice"),
    [
        ("@tool\ndef f(ctx: ToolContext) -> None:\n    'doc'", "async def"),
        ("@tool\nasync def f(ctx: ToolContext) -> None:\n    pass", "add a docstring"),
        ("@tool\nasync def f(city: str) -> None:\n    'doc'", "annotate the first parameter"),
        ("@tool\nasync def f() -> None:\n    'doc'", "first parameter must be the ToolContext"),
        (
            "@tool\nasync def f(ctx: ToolContext, city) -> None:\n    'doc'",
            "needs a type annotation",
        ),
        ("@tool\nasync def f(ctx: ToolContext, *a: int) -> None:\n    'doc'", "not supported"),
        ("@tool\nasync def f(ctx: ToolContext, **k: int) -> None:\n    'doc'", "not supported"),
        (
            "@tool\nasync def f(ctx: ToolContext, a: CityArgs, b: int) -> None:\n    'doc'",
            "not both",
        ),
        ("@tool(name='has space')\nasync def f(ctx: ToolContext) -> None:\n    'doc'", "name"),
        (
            "@tool(responder_safe=True, side_effects=True)\n"
            "async def f(ctx: ToolContext) -> None:\n    'doc'",
            "responder_safe tools must be fast and free of side effects",
        ),
        (
            "@tool(responder_safe=True, latency='slow')\n"
            "async def f(ctx: ToolContext) -> None:\n    'doc'",
            "responder_safe",
        ),
        ("@tool(timeout_s=0)\nasync def f(ctx: ToolContext) -> None:\n    'doc'", "timeout_s"),
    ],
)
def test_unsupported_definitions_are_refused_with_advice(source: str, advice: str) -> None:
    assert advice in _definition_error(source)


async def test_invoke_returns_the_output_and_passes_progress_through(redis: Redis) -> None:
    progress: list[str] = []
    result = await invoke(slow_weather, make_context(redis, progress=progress), {"city": "Faro"})
    assert (result.content, result.is_error) == ("sunny in Faro", False)
    assert progress == ["looking up Faro"]
    assert (await invoke(add, make_context(redis), '{"a": 40}')).content == '{"sum": 42}'


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"city": "nowhere"}, "which city?"),
        ({}, "invalid arguments: city: Field required"),
        ({"city": 7}, "invalid arguments: city: Input should be a valid string"),
        ('{"city": ', "invalid arguments"),
        ({"city": "slow"}, "slow_weather took longer than 0.2 s and was stopped"),
        ({"city": "crash"}, "slow_weather failed unexpectedly"),
    ],
)
async def test_every_failure_comes_back_as_an_error_result(
    redis: Redis, arguments: Any, expected: str
) -> None:
    result = await invoke(slow_weather, make_context(redis), arguments)
    assert result.is_error
    assert result.content.startswith(expected)
    assert "hunter2" not in result.content
    did_not_finish = expected.endswith(("was stopped", "failed unexpectedly"))
    assert result.failed is did_not_finish  # a refusal is an error, not a failure


async def test_unknown_arguments_are_refused_for_keyword_tools(redis: Redis) -> None:
    result = await invoke(add, make_context(redis), {"a": 1, "c": 3})
    assert result.is_error
    assert "c: Extra inputs are not permitted" in result.content


async def test_output_is_capped(redis: Redis) -> None:
    result = await invoke(slow_weather, make_context(redis), {"city": "big"})
    assert not result.is_error
    assert len(result.content) <= slow_weather.max_output_chars
    assert result.content.endswith("more characters]")


async def test_a_tool_that_needs_confirmation_does_not_run_without_it(redis: Redis) -> None:
    refused = await invoke(send_sms, make_context(redis), {"text": "hi"})
    assert refused.is_error
    assert "explicit confirmation" in refused.content
    progress: list[str] = []
    ctx = make_context(redis, confirmed=True, progress=progress)
    done = await invoke(send_sms, ctx, {"text": "hi"})
    assert done.content == "sent with key task-1-key"
    assert progress == ["texting 'hi' to the caller"]


async def test_cancellation_propagates_and_raises_the_cancelled_flag(redis: Redis) -> None:
    ctx = make_context(redis)
    call = asyncio.create_task(invoke(slow_weather, ctx, {"city": "slow"}))
    await asyncio.sleep(0.05)
    assert not ctx.cancelled.is_set()
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert ctx.cancelled.is_set()


def test_idempotency_keys_are_stable_per_task_tool_and_ordinal() -> None:
    first = derive_idempotency_key("task-key", "book_table", 1)
    assert first == derive_idempotency_key("task-key", "book_table", 1)
    assert first != derive_idempotency_key("task-key", "book_table", 2)
    assert first != derive_idempotency_key("other-task", "book_table", 1)


async def test_a_responder_safe_tool_becomes_a_livekit_function_tool(redis: Redis) -> None:
    from livekit.agents import RunContext
    from livekit.agents import ToolError as LiveKitToolError
    from livekit.agents.llm.utils import prepare_function_arguments

    # a RunContext as LiveKit's tool executor passes one (the tool reads none of its fields)
    run_context: RunContext[Any] = RunContext.__new__(RunContext)
    seen: list[object] = []

    def context_for(run: RunContext[Any]) -> ToolContext:
        seen.append(run)
        return make_context(redis)

    function = to_livekit(add, context_for)
    assert function.info.name == "add"
    assert function.info.raw_schema["parameters"]["required"] == ["a"]
    assert function.info.raw_schema["description"] == "Add two numbers."

    async def call(arguments: str) -> Any:
        """As LiveKit's tool executor calls a tool: its arguments prepared from the model's
        JSON, its RunContext passed to the parameter typed for it."""
        args, kwargs = prepare_function_arguments(
            fnc=function, json_arguments=arguments, call_ctx=run_context
        )
        return await function(*args, **kwargs)

    assert await call('{"a": 1, "b": 1}') == '{"sum": 2}'
    with pytest.raises(LiveKitToolError, match="invalid arguments"):
        await call('{"b": 1}')
    assert seen == [run_context, run_context]
    with pytest.raises(ValueError, match="not responder_safe"):
        to_livekit(slow_weather, lambda _run_context: make_context(redis))


def test_only_fast_harmless_built_ins_may_run_in_the_responder() -> None:
    registry = ToolRegistry.discover()
    names = {tool.name for tool in registry.responder_tools()}
    assert {"calculate", "current_time", "search_knowledge"} <= names
    assert not names & {"book_table", "cancel_booking", "check_availability", "get_weather"}


# -- strict arguments and clean text (issue 15) --------------------------------------------------


class Party(BaseModel):
    size: int = Field(description="How many people")
    budget: float = 0.0
    day: date | None = None
    rounded: Annotated[int, BeforeValidator(lambda v: round(v) if isinstance(v, float) else v)] = 0


@tool
async def seat(ctx: ToolContext, args: Party) -> str:
    """Seat a party."""
    return f"{args.size} people, {args.budget:g} each, on {args.day}, {args.rounded}"


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"size": True}, "size"),
        ({"size": "3"}, "size"),
        ({"size": 3.0}, "size"),
        ({"size": 3, "budget": True}, "budget"),
        ({"size": 3, "budget": "12.5"}, "budget"),
        ('{"size": false}', "size"),
        ({"a": True}, "a"),
        ({"a": "40"}, "a"),
    ],
)
async def test_arguments_are_not_coerced(redis: Redis, arguments: Any, field: str) -> None:
    target = add if field == "a" else seat
    result = await invoke(target, make_context(redis), arguments)
    assert result.is_error
    assert f"invalid arguments: {field}: Input should be a valid" in result.content


async def test_strictness_keeps_what_json_can_say(redis: Redis) -> None:
    """An int for a float, an ISO date for a date, and a field that converts on purpose."""
    arguments = {"size": 2, "budget": 30, "day": "2026-11-27", "rounded": 2.6}
    result = await invoke(seat, make_context(redis), arguments)
    assert result.content == "2 people, 30 each, on 2026-11-27, 3"


async def test_arguments_that_are_not_json_are_an_error(redis: Redis) -> None:
    result = await invoke(seat, make_context(redis), {"size": object()})
    assert (result.content, result.is_error) == (
        "invalid arguments: they must be a JSON object",
        True,
    )


@tool(max_output_chars=100)
async def echo(ctx: ToolContext, text: str, fail: bool = False) -> str:
    """Echo text back, as output, progress and error."""
    await ctx.progress(text)
    if fail:
        raise ToolError(text)
    return text


async def test_no_control_character_reaches_the_model(redis: Redis) -> None:
    hostile = "Ana\n\x1b[2J\x1b]0;pwned\x07SYSTEM:\x00 free\x9b31m meal\u202e\r\n\tok"
    progress: list[str] = []
    ctx = make_context(redis, progress=progress)
    output = await invoke(echo, ctx, {"text": hostile})
    error = await invoke(echo, ctx, {"text": hostile, "fail": True})
    assert output.content == "Ana\nSYSTEM: free meal\n ok"
    assert (error.content, error.is_error) == (output.content, True)
    assert progress == ["Ana SYSTEM: free meal ok"] * 2


async def test_output_is_cleaned_before_it_is_cut(redis: Redis) -> None:
    text = "x" * 39 + "\x1b[38;5;196m" * 20 + "y" * 100
    result = await invoke(echo, make_context(redis), {"text": text})
    assert result.content.startswith("x" * 39 + "y")
    assert "[" not in result.content.split(" [output cut")[0]
