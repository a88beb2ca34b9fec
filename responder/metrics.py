"""What callers feel, measured per call and exported per process.

Per call (:class:`CallMetrics`): time to first agent audio after each caller end of turn, by turn
type (direct, delegated, after an interruption); time to first filler of a delegated turn;
dead air; talk-over by the agent; results re-spoken after a barge-in; stale results suppressed.
Per process (:class:`ResponderMetrics`): the same as Prometheus series.

Times come from the session's own events. The local VAD reports the end of the caller's speech
(``user_state_changed`` to listening) only after ``vad_hangover_s`` of silence, so the caller's
real end of turn is that report minus the hangover; first audio is when the agent's audio output
starts playing (``agent_state_changed`` to speaking). Agent audio that starts inside the hangover
(the realtime model's own turn detection can be quicker than the local VAD) is an answer, not
talk-over; talk-over is agent audio starting before the caller really stopped.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from shared.build_info import build_labels

TurnType = Literal["direct", "delegated", "after_interruption"]

DEAD_AIR_GRACE_S = 1.0
"""Silence up to this long while the caller waits is a natural pause, not dead air."""

_LATENCY_BUCKETS = (0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)


class ResponderMetrics:
    """Prometheus series of one responder job process.

    Job processes report through prometheus multiprocess files, which the worker's ``/metrics``
    (LiveKit's) merges. Multiprocess mode exports only metrics written to those files: custom
    collectors such as prometheus_client's ``ProcessCollector`` and ``PlatformCollector`` are not
    merged, so ``process_*`` series never reach the scrape. A job process's memory and CPU are
    gauges here instead, sampled by :class:`~responder.process_metrics.JobProcessSampler` and
    kept per process (a ``pid`` label, dropped when the process ends). Series recorded in the
    worker's main process itself (LiveKit's ``lk_agents_*``) are not in the files either: its
    prometheus_client was imported before LiveKit sets ``PROMETHEUS_MULTIPROC_DIR``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.first_audio = Histogram(
            "tandem_responder_first_audio_seconds",
            "Caller end of turn to first agent audio.",
            ["turn"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.first_filler = Histogram(
            "tandem_responder_first_filler_seconds",
            "Caller end of a delegated turn to the first filler line.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.dead_air = Histogram(
            "tandem_responder_dead_air_seconds",
            "Dead air per call (silence beyond 1 s while the caller waits).",
            buckets=(0, 0.5, 1, 2, 5, 10, 30, 60),
            registry=r,
        )
        self.floor_action = Histogram(
            "tandem_responder_floor_action_seconds",
            "Floor free (or utterance ready on a free floor) to speech requested.",
            buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1),
            registry=r,
        )
        self.loop_lag = Histogram(
            "tandem_responder_event_loop_lag_seconds",
            "How late a call's event loop woke for a timer due every 100 ms (CPU short or the "
            "loop blocked: audio frames and turn handling are late by as much).",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0),
            registry=r,
        )
        self.respoken = Counter(
            "tandem_responder_respoken", "Utterances re-spoken after a barge-in.", registry=r
        )
        self.stale = Counter(
            "tandem_responder_stale_suppressed", "Results never spoken: stale.", registry=r
        )
        self.talk_over = Counter(
            "tandem_responder_talk_over", "Agent speech that started over the caller.", registry=r
        )
        self.tasks = Counter(
            "tandem_responder_tasks", "Delegated tasks by outcome.", ["outcome"], registry=r
        )
        self.job_failures = Counter(
            "tandem_responder_job_failures",
            "Jobs whose entry point raised: the call could not be put together or started.",
            registry=r,
        )
        self.job_resident_memory_bytes = Gauge(
            "tandem_responder_job_resident_memory_bytes",
            "Resident memory of each live job process (pid label; sum() for the worker).",
            registry=r,
            multiprocess_mode="liveall",
        )
        self.job_cpu_seconds = Gauge(
            "tandem_responder_job_cpu_seconds",
            "CPU time each live job process has used since it started (pid label; a running "
            "total: use rate()).",
            registry=r,
            multiprocess_mode="liveall",
        )
        self.build_info = Gauge(
            "tandem_build_info",
            "Always 1; the labels say which tandem, Python and livekit-agents run.",
            list(build_labels()),
            registry=r,
            multiprocess_mode="max",  # the same in every job process: one series
        )
        self.build_info.labels(**build_labels()).set(1)
        self.calls_active = Gauge(
            "tandem_responder_calls_active",
            "Calls in progress.",
            registry=r,
            multiprocess_mode="livesum",  # one series: the sum over the live job processes
        )


@dataclass
class TurnRecord:
    """One caller turn and how long the agent took to answer it."""

    ended_at: float
    after_interruption: bool
    delegated: bool = False
    first_audio_s: float | None = None

    @property
    def type(self) -> TurnType:
        """Direct, delegated, or answered after the caller interrupted the agent."""
        if self.after_interruption:
            return "after_interruption"
        return "delegated" if self.delegated else "direct"


@dataclass
class CallMetrics:
    """Measurements of one call; feed it session events and delegation/floor notices."""

    process: ResponderMetrics | None = None
    clock: Callable[[], float] = time.monotonic
    owed: Callable[[], bool] = lambda: False
    """True while the caller is waiting for something (a delegated task is running)."""
    vad_hangover_s: float = 0.55
    """Silence the local VAD needs before it reports the end of speech (silero's default)."""
    turns: list[TurnRecord] = field(default_factory=list)
    first_filler_s: list[float] = field(default_factory=list)
    dead_air_s: float = 0.0
    talk_over_count: int = 0
    talk_over_s: float = 0.0
    respoken: int = 0
    stale_suppressed: int = 0
    tasks: dict[str, int] = field(default_factory=dict)
    listeners: list[Callable[[dict[str, Any]], None]] = field(default_factory=list)
    """Receive every call event as a dict (``t`` seconds since start, ``event``, fields)."""
    _started: float = 0.0
    _user_speaking: bool = False
    _interrupting: bool = False
    _agent_speaking: bool = False
    _awaiting_answer: TurnRecord | None = None
    _silence_since: float | None = None
    _overlap_from: float | None = None
    """Agent audio started while the VAD still said the caller was speaking (maybe talk-over)."""
    _filler_due_from: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._started = self.clock()
        self._silence_since = None
        if self.process is not None:
            self.process.calls_active.inc()

    # -- events from the session -------------------------------------------------------------

    def user_speaking(self, speaking: bool) -> None:
        """The caller started or stopped speaking (local VAD)."""
        now = self.clock()
        self._account_silence(now)
        if speaking and not self._user_speaking:
            self._user_speaking = True
            self._interrupting = self._agent_speaking
        elif not speaking and self._user_speaking:
            self._user_speaking = False
            ended_at = now - self.vad_hangover_s
            turn = TurnRecord(ended_at=ended_at, after_interruption=self._interrupting)
            self.turns.append(turn)
            self._awaiting_answer = turn
            self.emit("caller_turn_end")
            if self._overlap_from is not None:
                started, self._overlap_from = self._overlap_from, None
                if started < ended_at:
                    self._talked_over(ended_at - started)
                self._answered(started)
        self._restart_silence(now)

    def agent_speaking(self, speaking: bool) -> None:
        """The agent's audio started or stopped playing."""
        now = self.clock()
        self._account_silence(now)
        if speaking and not self._agent_speaking:
            self._agent_speaking = True
            if self._user_speaking and not self._interrupting:
                self._overlap_from = now  # settled when the VAD reports the caller's end
            else:
                self._answered(now)
        elif not speaking and self._agent_speaking:
            self._agent_speaking = False
            if self._overlap_from is not None:  # stopped before the caller did: talk-over
                self._talked_over(now - self._overlap_from)
                self._overlap_from = None
        self._restart_silence(now)

    def _answered(self, started_at: float) -> None:
        if self._awaiting_answer is not None and started_at >= self._awaiting_answer.ended_at:
            turn, self._awaiting_answer = self._awaiting_answer, None
            turn.first_audio_s = started_at - turn.ended_at
            self.emit("first_audio", seconds=round(turn.first_audio_s, 3))
        if self._filler_due_from:
            origin = self._filler_due_from.pop(0)
            self.first_filler_s.append(started_at - origin)
            if self.process is not None:
                self.process.first_filler.observe(started_at - origin)

    def _talked_over(self, seconds: float) -> None:
        self.talk_over_count += 1
        self.talk_over_s += seconds
        if self.process is not None:
            self.process.talk_over.inc()
        self.emit("talk_over", seconds=round(seconds, 3))

    # -- notices from delegation and the floor --------------------------------------------------

    def turn_delegated(self) -> float | None:
        """The latest caller turn started a task; returns when that turn ended."""
        if not self.turns:
            return None
        self.turns[-1].delegated = True
        return self.turns[-1].ended_at

    def filler_requested(self, turn_ended_at: float | None) -> None:
        """The first filler of a task is about to play; timed from ``turn_ended_at``."""
        if turn_ended_at is not None:
            self._filler_due_from.append(turn_ended_at)

    def owed_changed(self) -> None:
        """Whether the caller is waiting changed (a task started or ended)."""
        now = self.clock()
        self._account_silence(now)
        self._restart_silence(now)

    def count_respoken(self) -> None:
        """An utterance was spoken again after a barge-in."""
        self.respoken += 1
        if self.process is not None:
            self.process.respoken.inc()

    def count_stale(self) -> None:
        """A result was suppressed because it was stale."""
        self.stale_suppressed += 1
        if self.process is not None:
            self.process.stale.inc()

    def count_task(self, outcome: str) -> None:
        """A delegated task ended (``answered``, ``failed``, ``expired``, ``superseded`` ...)."""
        self.tasks[outcome] = self.tasks.get(outcome, 0) + 1
        if self.process is not None:
            self.process.tasks.labels(outcome).inc()

    def emit(self, event: str, **fields: Any) -> None:
        """Send one call event to the listeners."""
        record = {"t": round(self.clock() - self._started, 3), "event": event, **fields}
        for listener in self.listeners:
            listener(record)

    # -- summary ------------------------------------------------------------------------------

    def close(self) -> None:
        """The call ended: account the last silence and publish per-call series."""
        now = self.clock()
        self._account_silence(now)
        self._silence_since = None
        if self.process is not None:
            self.process.calls_active.dec()
            self.process.dead_air.observe(self.dead_air_s)
            for turn in self.turns:
                if turn.first_audio_s is not None:
                    self.process.first_audio.labels(turn.type).observe(turn.first_audio_s)

    def summary(self) -> dict[str, Any]:
        """Every figure of the call as plain JSON-able values."""
        by_type: dict[str, list[float]] = {}
        for turn in self.turns:
            if turn.first_audio_s is not None:
                by_type.setdefault(turn.type, []).append(turn.first_audio_s)
        return {
            "turns": len(self.turns),
            "first_audio_s": {kind: percentiles(values) for kind, values in by_type.items()},
            "first_filler_s": percentiles(self.first_filler_s),
            "dead_air_s": round(self.dead_air_s, 3),
            "talk_over": {"count": self.talk_over_count, "seconds": round(self.talk_over_s, 3)},
            "respoken": self.respoken,
            "stale_suppressed": self.stale_suppressed,
            "tasks": dict(self.tasks),
        }

    # -- internals ----------------------------------------------------------------------------

    def _waiting(self) -> bool:
        return self._awaiting_answer is not None or self.owed()

    def _restart_silence(self, now: float) -> None:
        silent = not self._user_speaking and not self._agent_speaking
        self._silence_since = now if silent and self._waiting() else None

    def _account_silence(self, now: float) -> None:
        if self._silence_since is not None:
            gap = now - self._silence_since
            if gap > DEAD_AIR_GRACE_S:
                self.dead_air_s += gap - DEAD_AIR_GRACE_S
                self.emit("dead_air", seconds=round(gap - DEAD_AIR_GRACE_S, 3))
            self._silence_since = None


def percentiles(values: Sequence[float]) -> dict[str, float] | None:
    """n, p50, p95 and max of ``values`` (None if empty)."""
    if not values:
        return None
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "n": len(ordered),
        "p50": round(statistics.median(ordered), 3),
        "p95": round(p95, 3),
        "max": round(ordered[-1], 3),
    }
