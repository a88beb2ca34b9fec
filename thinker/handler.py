"""One task through the thinker: the bus hands it over, a brain answers it with tools, and the
guardrails clean what it publishes against the tools' outputs (:mod:`thinker.guard`)."""

from __future__ import annotations

import asyncio
import functools
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

import httpx
from redis.asyncio import Redis

from shared.bus import TaskContext, TaskFailed, TaskOutcome
from shared.log import session_scope
from shared.tracing import task_attributes, task_context, tracer
from shared.wire import now_ms
from thinker.brain import Brain, BrainContext
from thinker.guard import GuardrailSet, ResultGuard
from thinker.metrics import ThinkerMetrics
from thinker.profiles import ProfileCatalog
from tools import (
    Profile,
    Tool,
    ToolContext,
    ToolRegistry,
    ToolResult,
    ToolStore,
    derive_idempotency_key,
    invoke,
)

_tracer = tracer("tandem.thinker")
_OUTCOME_LABELS = {"answer": "answered", "unknown": "unknown", "needs_detail": "needs_detail"}
"""The ``tandem_thinker_tasks_total`` outcome of each kind of result."""


class ThinkerHandler:
    """The bus :class:`~shared.bus.TaskHandler` of a thinker process."""

    def __init__(
        self,
        brain: Brain,
        registry: ToolRegistry,
        redis: Redis,
        http: httpx.AsyncClient,
        metrics: ThinkerMetrics,
        *,
        prefix: str,
        catalog: ProfileCatalog | None = None,
    ) -> None:
        """``catalog``: the profiles served; each task is answered with its own profile's tools
        and knowledge (None: no profiles, every tool of the registry)."""
        self.brain = brain
        self.catalog = catalog
        self.registry = registry
        self.redis = redis
        self.http = http
        self.metrics = metrics
        self.prefix = prefix
        self.guardrails = GuardrailSet()

    async def __call__(self, bus_ctx: TaskContext) -> TaskOutcome:
        task = bus_ctx.task
        m = self.metrics
        m.stage_seconds.labels("pickup").observe(max(0.0, (now_ms() - task.created_ms) / 1000))
        started = time.monotonic()
        attributes: dict[str, str | int] = {
            **task_attributes(task.session_id, task.task_id),
            "tandem.attempt": bus_ctx.attempt,
            "tandem.tier": task.tier,
            "tandem.profile": task.profile or "",
        }
        with (
            session_scope(task.session_id),
            _tracer.start_as_current_span(
                "thinker.task", context=task_context(task.trace), attributes=attributes
            ),
        ):
            try:
                profile = self.catalog.for_task(task) if self.catalog is not None else None
            except TaskFailed:
                m.tasks.labels("failed").inc()
                m.errors.labels("unknown_profile").inc()
                raise
            tools = self.registry.allowed(task.tools)
            if profile is not None:
                tools = [tool for tool in tools if tool.name in profile.allowed_tools]
            cancelled = asyncio.Event()
            guard = ResultGuard(self.guardrails.for_profile(profile), m, task.task_id)
            ctx = BrainContext(
                task,
                tools,
                _ToolRunner(self, bus_ctx, tools, cancelled, profile, guard).call,
                bus_ctx.progress,
                guard.partial(bus_ctx.partial),
                lambda: (task.deadline_ms - now_ms()) / 1000,
                profile,
            )
            try:
                outcome = await self.brain.answer(ctx)
            except asyncio.CancelledError:
                cancelled.set()
                m.tasks.labels("stopped").inc()
                raise
            except TaskFailed:
                m.tasks.labels("failed").inc()
                m.errors.labels("task_failed").inc()
                raise
            except Exception:
                m.tasks.labels("crashed").inc()
                m.errors.labels("internal").inc()
                raise
            if isinstance(outcome, TaskOutcome):  # anything else: the bus reports it
                outcome = guard.outcome(outcome)
            # "unknown" and "needs_detail" apart: how often the business's information fell short
            kind = getattr(outcome, "kind", "answer")  # a brain returning junk: the bus says so
            m.tasks.labels(_OUTCOME_LABELS.get(kind, "answered")).inc()
            m.stage_seconds.labels("answer").observe(time.monotonic() - started)
            return outcome


class _ToolRunner:
    """Runs the brain's tool calls for one task: allowlist, idempotency keys, metrics, spans."""

    def __init__(
        self,
        handler: ThinkerHandler,
        bus_ctx: TaskContext,
        tools: list[Tool],
        cancelled: asyncio.Event,
        profile: Profile | None,
        guard: ResultGuard,
    ) -> None:
        self._handler = handler
        self._guard = guard
        self._profile = profile
        self._bus_ctx = bus_ctx
        self._tools = {tool.name: tool for tool in tools}
        self._cancelled = cancelled
        self._calls: Counter[str] = Counter()

    async def call(self, name: str, arguments: Mapping[str, Any] | str) -> ToolResult:
        """Run tool ``name``; the n-th call of a tool in a task always gets the same key."""
        tool = self._tools.get(name)
        if tool is None:
            return ToolResult(f"no tool named {name!r} is available for this task", is_error=True)
        if tool.side_effects and self._cancelled.is_set():
            return ToolResult(f"{name} was not run: the task was cancelled", is_error=True)
        self._calls[name] += 1
        h, task = self._handler, self._bus_ctx.task
        key = derive_idempotency_key(task.idempotency_key, name, self._calls[name])
        ctx = ToolContext(
            session_id=task.session_id,
            task_id=task.task_id,
            idempotency_key=key,
            http=h.http,
            store=ToolStore(h.redis, h.prefix),
            progress=functools.partial(self._bus_ctx.progress, tool=name),
            cancelled=self._cancelled,
            confirmed=task.confirmed,
            profile=self._profile,
        )
        started = time.monotonic()
        attributes = {**task_attributes(task.session_id, task.task_id), "tandem.tool": name}
        with _tracer.start_as_current_span("thinker.tool", attributes=attributes):
            result = await invoke(tool, ctx, arguments)
        self._guard.heard(result.content, did_something=tool.side_effects and not result.is_error)
        outcome = "error" if result.is_error else "ok"
        h.metrics.tool_seconds.labels(name, outcome).observe(time.monotonic() - started)
        if tool.side_effects and not result.is_error:  # done, whatever becomes of the task
            await self._bus_ctx.done(result.content, key=key)
        return result
