"""Claude as the brain: the streaming Messages API with an own tool loop.

Owning the loop (instead of the SDK's tool runner) lets the thinker start a tool the moment its
``tool_use`` block is complete (``content_block_stop``, before the message ends), run independent
tool calls in parallel, hand the responder the first fact early, bound each request by the task's
deadline, and stop at once on cancellation: the model stream is closed and tools not yet started
never start.

Claude says what kind of reply it wrote with a tag at its start (:data:`SYSTEM_PROMPT`):
``[answer]``, ``[unknown]`` (it does not have that information), ``[needs_detail]`` (it asks the
caller for a detail) or ``[failed]`` (a tool or service failed; worth another try). The tag
becomes the outcome's ``kind`` (``[failed]``: a retryable :class:`~shared.bus.TaskFailed`) and is
never said. A leading tag rather than a trailing line or an extra tool call: the kind is known
with the first tokens, so an early fact is only handed on for an answer, and it costs no extra
model turn. A reply without a tag is an answer.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal, cast

import anthropic
import httpx2

from shared.bus import TaskFailed, TaskOutcome
from shared.config import ThinkerSettings
from shared.profile import Profile
from shared.tracing import task_attributes, tracer
from shared.wire import ResultKind
from thinker.brain import BrainContext
from tools import ToolResult, to_anthropic

log = logging.getLogger(__name__)
_tracer = tracer("tandem.thinker")
_SENTENCE_END = re.compile(r"[.!?](\s|$)")
_TAG = re.compile(r"\[\s*(answer|unknown|needs[ _-]?details?|failed)\s*\]\s*", re.IGNORECASE)
"""A kind tag, as Claude writes it (spacing, case and "needs detail" forgiven)."""
_TAG_CHARS = 24
"""A reply that starts with "[" and has no "]" by then starts with no tag."""

SYSTEM_PROMPT = """\
You work behind a live phone agent. The agent is talking to a caller right now and has handed \
you one task. Do the task with the tools you have, then reply with the facts the agent should \
say: short, plain sentences, numbers, times, names and references exactly as the tools gave \
them. No greeting, no filler, no markdown, no lists. Do not invent facts. Tools that change \
things (bookings, cancellations) only run once the caller has confirmed; if one tells you \
confirmation is missing, say exactly what the caller needs to confirm.

Start your reply with exactly one of these tags, then the reply:
[answer] the facts that answer the task. A tool's "no" is an answer too (fully booked, already \
passed, not something the business does when its information says so).
[unknown] neither your tools nor the business's information answer it, or it is something you \
cannot do for this business: say so plainly in one sentence, without guessing.
[needs_detail] you cannot go on without a detail only the caller can give (which day, how many \
people, a reference number): ask for exactly what is missing, in one short question.
[failed] a tool or service failed in a way that may work if asked again later: say in one \
sentence what could not be done.
Never ask the caller to try again yourself; the phone agent decides that."""


class ClaudeBrain:
    """Answers tasks with Claude, a fast model for lookups and a strong one for planning.

    ``client`` carries the retry policy (``ThinkerSettings.max_retries``: at most one retry on
    the latency path); each request's timeout is bounded by the task's deadline.
    """

    name = "claude"

    def __init__(
        self,
        client: anthropic.AsyncAnthropic,
        settings: ThinkerSettings,
        *,
        on_first_token: Callable[[str, float], None] = lambda _model, _seconds: None,
        on_model_error: Callable[[str], None] = lambda _kind: None,
    ) -> None:
        self._client = client
        self._settings = settings
        self._on_first_token = on_first_token
        self._on_model_error = on_model_error

    async def answer(self, ctx: BrainContext) -> TaskOutcome:
        """Run the tool loop until Claude answers in text (or the step budget runs out)."""
        s = self._settings
        model = s.strong_model if ctx.task.tier == "strong" else s.fast_model
        tools = [to_anthropic(tool) for tool in ctx.tools]
        if tools:  # cache the tool list with the system prompt: every loop turn re-reads both
            tools[-1] = {**tools[-1], "cache_control": {"type": "ephemeral"}}
        messages: list[dict[str, Any]] = [{"role": "user", "content": _brief(ctx)}]
        first_fact = _FirstFact(ctx)
        for step in range(s.max_steps):
            final, results = await self._turn(ctx, model, tools, messages, step, first_fact)
            if final.stop_reason != "tool_use" or not results:
                kind, text = read_kind(" ".join(b.text for b in final.content if b.type == "text"))
                if not text:
                    raise TaskFailed("I could not work that out just now", retryable=True)
                if kind == "failed":
                    raise TaskFailed(text, retryable=True)
                return TaskOutcome(text=text, data={"model": model, "steps": step + 1}, kind=kind)
            messages.append(
                {"role": "assistant", "content": [b.model_dump(mode="json") for b in final.content]}
            )
            messages.append(
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": call_id,
                            "content": result.content,
                            "is_error": result.is_error,
                        }
                        for call_id, result in results
                    ],
                }
            )
        raise TaskFailed("that took too many steps to work out; try asking more simply")

    async def _turn(
        self,
        ctx: BrainContext,
        model: str,
        tools: list[dict[str, Any]],
        messages: list[dict[str, Any]],
        step: int,
        first_fact: _FirstFact,
    ) -> tuple[Any, list[tuple[str, ToolResult]]]:
        """One model request; each tool starts as soon as its block is complete."""
        s = self._settings
        timeout = max(0.1, min(s.request_timeout_s, ctx.remaining_s()))
        running: list[tuple[str, asyncio.Task[ToolResult]]] = []
        started = time.monotonic()
        first_token = False
        system = _system_blocks(ctx)
        request = self._client.messages.stream(  # retries: the client's max_retries
            model=model,
            max_tokens=s.max_tokens,
            system=system,  # type: ignore[arg-type]
            tools=tools,  # type: ignore[arg-type]
            messages=messages,  # type: ignore[arg-type]
            timeout=httpx2.Timeout(timeout, connect=min(5.0, timeout)),  # never past the deadline
        )
        span: dict[str, str | int] = {
            **task_attributes(ctx.task.session_id, ctx.task.task_id),
            "gen_ai.request.model": model,
            "tandem.step": step,
        }
        with _tracer.start_as_current_span("thinker.model", attributes=span):
            try:
                async with asyncio.TaskGroup() as group, request as stream:
                    async for event in stream:
                        if not first_token and event.type == "content_block_delta":
                            first_token = True
                            self._on_first_token(model, time.monotonic() - started)
                        if (
                            event.type == "content_block_stop"
                            and event.content_block.type == "tool_use"
                        ):
                            block = event.content_block
                            call = ctx.call_tool(block.name, dict(block.input))
                            running.append((block.id, group.create_task(call)))
                        elif event.type == "text" and (step > 0 or not ctx.tools):
                            await first_fact.feed(event.text)
                    final = await stream.get_final_message()
            except* (anthropic.APIError, httpx2.TransportError) as errors:
                # a stall or a dropped connection after the headers arrives as a raw httpx2 error
                error = errors.exceptions[0]
                self._on_model_error(type(error).__name__)
                raise _model_failure(error) from None
        return final, [(call_id, task.result()) for call_id, task in running]


def read_kind(reply: str) -> tuple[ResultKind | Literal["failed"], str]:
    """The kind a reply's tag gives (``"answer"`` without one) and the reply without tags."""
    found = _TAG.search(reply)
    text = _TAG.sub("", reply).strip()
    if found is None:
        return "answer", text
    tag = found.group(1).lower()
    if tag.startswith("needs"):
        return "needs_detail", text
    return cast(ResultKind | Literal["failed"], tag), text


class _FirstFact:
    """Hands the responder the first complete sentence of an answer as soon as it exists
    (never of a reply of another kind: "I don't know" is not an early fact)."""

    def __init__(self, ctx: BrainContext) -> None:
        self._ctx = ctx
        self._text = ""
        self._sent = False
        self._tag_read = False

    async def feed(self, delta: str) -> None:
        if self._sent:
            return
        self._text += delta
        if not self._tag_read:
            head = self._text.lstrip()
            if head.startswith("[") and "]" not in head and len(head) < _TAG_CHARS:
                return  # the tag is still arriving
            self._tag_read = True
            kind, _ = read_kind(head[: head.find("]") + 1] if head.startswith("[") else "")
            if kind != "answer":
                self._sent = True  # nothing early to say
                return
        text = _TAG.sub("", self._text, count=1)
        match = _SENTENCE_END.search(text)
        if match:
            self._sent = True
            await self._ctx.partial(text[: match.end()].strip())


def _system_blocks(ctx: BrainContext) -> list[dict[str, Any]]:
    """tandem's rules, then the business the task is for; each block cached (they change only
    with the profile, so every loop turn and every task of a profile reads them from cache)."""
    blocks = [{"type": "text", "text": SYSTEM_PROMPT, "cache_control": {"type": "ephemeral"}}]
    if ctx.profile is not None:
        blocks.append(
            {"type": "text", "text": business(ctx.profile), "cache_control": {"type": "ephemeral"}}
        )
    return blocks


def business(profile: Profile) -> str:
    """What the thinker is told about the business a task is for."""
    spec = profile.spec
    return (
        f"The business: {spec.name} (time zone {spec.timezone}, language {spec.language}). "
        "Answer only for this business, from its tools and its information; if they do not "
        "answer the task, say you do not have that information.\n\n"
        f"How the phone agent presents it:\n{spec.persona.instructions.strip()}"
    )


def _brief(ctx: BrainContext) -> str:
    """The task as Claude reads it: the time, the conversation so far, the task, and what was
    confirmed (the time is here, not in the cached system prompt)."""
    task = ctx.task
    lines = [f"{turn.role}: {turn.text}" for turn in task.context]
    history = "\n".join(lines) if lines else "(no earlier conversation)"
    confirmed = "yes" if task.confirmed else "no"
    zone = ctx.profile.timezone if ctx.profile is not None else UTC
    return (
        f"Now: {datetime.now(zone):%A %Y-%m-%d %H:%M} ({zone}).\n\n"
        f"Conversation so far:\n{history}\n\nTask: {task.request}\n"
        f"Has the caller explicitly confirmed the action? {confirmed}."
    )


def _model_failure(error: BaseException) -> TaskFailed:
    """A failure the responder can speak around; the cause goes to the log."""
    kind = type(error).__name__
    log.warning("model request failed", extra={"error": kind})
    if isinstance(error, (anthropic.APITimeoutError, httpx2.TimeoutException)):
        return TaskFailed("the assistant is taking too long to answer", retryable=True)
    return TaskFailed("the assistant could not answer just now", retryable=True)
