"""The scripted caller: plays a scenario's steps into the agent's audio input at the right
moments, in real time, watching the agent only the way a caller could (is it speaking, has it
answered, is it still working on something)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from shared.errors import TandemError
from simulator.audio_io import CallerAudioInput, Utterance
from simulator.scenario import Step
from simulator.voice import SAMPLE_RATE, CallerVoice

_POLL_S = 0.02


class StepTimeout(TandemError):
    """A step's moment never came (the agent never answered, never spoke, ...)."""


@dataclass(frozen=True)
class AgentSpeech:
    """One stretch of agent audio as the caller hears it (``time.monotonic()`` instants)."""

    started_at: float
    ended_at: float | None
    kind: str
    """``answer`` when it delivers a task's answer, else ``other``."""


class AgentWatch(Protocol):
    """What the caller can tell about the agent."""

    def speeches(self) -> list[AgentSpeech]:
        """Every agent speech so far, in order."""
        ...

    def busy(self) -> bool:
        """The agent still has something to say: work running, speech queued or being made."""
        ...

    def tasks_submitted(self) -> int:
        """Delegated tasks started so far."""
        ...


@dataclass
class CallerLine:
    """One line the caller spoke (or started to)."""

    step: Step
    utterance: Utterance


class ScriptedCaller:
    """Runs scenario steps against ``mic``; ``on_line`` hears each line as it starts."""

    def __init__(
        self,
        mic: CallerAudioInput,
        agent: AgentWatch,
        voice: CallerVoice,
        *,
        on_line: Callable[[CallerLine], None] = lambda _line: None,
    ) -> None:
        self._mic = mic
        self._agent = agent
        self._voice = voice
        self._on_line = on_line
        self.lines: list[CallerLine] = []
        self._last_turn_end: float | None = None
        """When the caller's last line that expects an answer ended (not backchannels)."""

    async def run(self, steps: list[Step]) -> None:
        """Play every step in order; ``StepTimeout`` says which step's moment never came."""
        for number, step in enumerate(steps, 1):
            try:
                await asyncio.wait_for(self._moment(step), step.wait_s)
            except TimeoutError:
                raise StepTimeout(
                    f"step {number} ({step.action}): {_WAITING_FOR[step.action]} "
                    f"did not happen within {step.wait_s:g} s"
                ) from None
            if step.silence_s is not None:
                await asyncio.sleep(step.silence_s)
                continue
            await self.speak(step)

    async def speak(self, step: Step) -> CallerLine:
        """Say ``step``'s words now and wait until they are out."""
        samples = await asyncio.to_thread(self._voice.render, step.text)
        line = CallerLine(step, self._mic.play(samples, sample_rate=SAMPLE_RATE))
        self.lines.append(line)
        self._on_line(line)
        await line.utterance.wait()
        if step.action != "backchannel":
            self._last_turn_end = line.utterance.ended_at or time.monotonic()
        return line

    async def wait_until_agent_done(self, silence_ms: int) -> None:
        """Until the agent answered the caller's last line, has nothing more coming, and has
        been silent for ``silence_ms``."""
        await self._moment_done(silence_ms)

    # -- moments -----------------------------------------------------------------------------

    async def _moment(self, step: Step) -> None:
        if step.action == "say" and step.after_caller_ms is not None:
            await self._moment_after_caller(step.after_caller_ms)
        elif step.action in ("say", "silence_s"):
            await self._moment_done(step.after_silence_ms)
        elif step.action == "correct":
            await self._moment_mid_task(step.after_silence_ms)
        else:
            await self._moment_into_speech(step.after_agent_ms, answer_only=step.during == "answer")

    async def _moment_done(self, silence_ms: int) -> None:
        silent_since: float | None = None
        while True:
            now = time.monotonic()
            if self._answered() and not self._agent.busy() and not self._playing():
                last_end = max((s.ended_at or now for s in self._agent.speeches()), default=0.0)
                silent_since = max(silent_since or now, last_end)
                if now - silent_since >= silence_ms / 1000:
                    return
            else:
                silent_since = None
            await asyncio.sleep(_POLL_S)

    async def _moment_after_caller(self, pause_ms: int) -> None:
        """``pause_ms`` after the caller's last line ended (at once before the first line)."""
        if self._last_turn_end is not None:
            await asyncio.sleep(max(0.0, self._last_turn_end + pause_ms / 1000 - time.monotonic()))

    async def _moment_mid_task(self, silence_ms: int) -> None:
        submitted = self._agent.tasks_submitted()
        quiet_since: float | None = None
        while True:
            now = time.monotonic()
            if self._agent.tasks_submitted() == submitted or self._playing():
                quiet_since = None
            else:
                quiet_since = quiet_since or now
                if now - quiet_since >= silence_ms / 1000:
                    return
            await asyncio.sleep(_POLL_S)

    async def _moment_into_speech(self, after_ms: int, *, answer_only: bool) -> None:
        since = self._last_turn_end or 0.0
        while True:  # an agent speech after the caller's last turn, after_ms in and still on
            now = time.monotonic()
            for speech in self._agent.speeches():
                if (
                    speech.ended_at is None
                    and speech.started_at >= since
                    and (speech.kind == "answer" or not answer_only)
                    and now >= speech.started_at + after_ms / 1000
                ):
                    return
            await asyncio.sleep(_POLL_S)

    def _answered(self) -> bool:
        if self._last_turn_end is None:  # before the caller's first line: wait for the greeting
            return bool(self._agent.speeches())
        return any(s.started_at >= self._last_turn_end for s in self._agent.speeches())

    def _playing(self) -> bool:
        speeches = self._agent.speeches()
        return bool(speeches) and speeches[-1].ended_at is None


_WAITING_FOR = {
    "say": "the agent finishing its answer",
    "silence_s": "the agent finishing its answer",
    "correct": "a delegated task to start",
    "barge_in": "the agent's next speech",
    "backchannel": "the agent's next speech",
}
