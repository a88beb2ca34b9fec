"""Real-time audio I/O for running an ``AgentSession`` without a LiveKit room (the simulator's
and the tests': production calls get their audio from the LiveKit room).

Set before ``session.start()`` (and pass no ``room=``)::

    caller = CallerAudioInput()             # the simulated caller's microphone
    speaker = CapturingAudioOutput()        # the agent's speaker
    transcript = TranscriptCollector()      # optional: the agent's text, timestamped
    session.input.audio = caller
    session.output.audio = speaker
    session.output.transcription = transcript
    recorder = CallRecorder(caller, speaker)
    await session.start(agent)
    ...
    await caller.say(samples)               # speak, then carry on
    ...
    recorder.write("call.wav")              # stereo: caller left, agent right

Both ends run in real time against ``time.monotonic()``: the input delivers one frame per frame
duration and the output plays one frame per frame duration, so 60 s of audio takes 60 s. Each end
records what actually crossed it as :class:`TimedChunk` values (monotonic start time + PCM16
samples), which :class:`CallRecorder` lays out on one shared timeline.
"""

from __future__ import annotations

import asyncio
import logging
import time
import wave
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeAlias

import numpy as np
from livekit import rtc
from livekit.agents.voice import io

from responder.pcm import AudioSamples, Int16Array, resample, to_int16

log = logging.getLogger("tandem.simulator.audio_io")

DEFAULT_SAMPLE_RATE = 24_000
"""The rate LiveKit's room I/O and the OpenAI realtime API use; VAD and STT resample from it."""
DEFAULT_FRAME_DURATION = 0.01
AudioLine: TypeAlias = Callable[[Int16Array], Int16Array]
"""What audio goes through between the two ends of a call (mono PCM16 in, mono PCM16 out)."""
DEFAULT_MAX_LAG = 0.2
"""How late a consumer or the event loop may fall behind before the clock restarts instead of
catching up with a burst."""


@dataclass(frozen=True)
class TimedChunk:
    """Mono PCM16 audio that crossed an endpoint, starting at ``start`` (``time.monotonic()``)."""

    start: float
    samples: Int16Array
    sample_rate: int

    @property
    def end(self) -> float:
        """When the last sample finished (``time.monotonic()``)."""
        return self.start + len(self.samples) / self.sample_rate


def _frame_samples(sample_rate: int, frame_duration: float) -> int:
    n = round(sample_rate * frame_duration)
    if n <= 0 or abs(n - sample_rate * frame_duration) > 1e-6:
        raise ValueError(f"{frame_duration} s is not a whole number of samples at {sample_rate} Hz")
    return n


def _to_wall(monotonic: float) -> float:
    """A ``time.monotonic()`` instant as ``time.time()``, the clock the framework's events use."""
    return time.time() - (time.monotonic() - monotonic)


# --- caller microphone ---------------------------------------------------------------------------


class Utterance:
    """One stretch of caller audio queued on a :class:`CallerAudioInput`.

    ``started_at`` / ``ended_at`` are ``time.monotonic()`` instants of the first and last sample
    delivered (None until then); ``samples_sent`` counts what was delivered.
    """

    def __init__(self, samples: Int16Array, sample_rate: int) -> None:
        self.samples = samples
        self.sample_rate = sample_rate
        self.samples_sent = 0
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self.cancelled = False
        self._done = asyncio.Event()

    @property
    def duration(self) -> float:
        """Length of the whole utterance in seconds."""
        return len(self.samples) / self.sample_rate

    def done(self) -> bool:
        """True once fully delivered or cancelled."""
        return self._done.is_set()

    def cancel(self) -> None:
        """Stop this utterance: nothing more of it is delivered (the caller stops mid-sentence)."""
        if self.done():
            return
        self.cancelled = True
        if self.started_at is not None:
            self.ended_at = self.started_at + self.samples_sent / self.sample_rate
        self._done.set()

    async def wait(self) -> bool:
        """Wait until done; True if every sample was delivered, False if it was cancelled."""
        await self._done.wait()
        return not self.cancelled

    def _take(self, n: int, at: float) -> Int16Array:
        piece = self.samples[self.samples_sent : self.samples_sent + n]
        if self.started_at is None:
            self.started_at = at
        self.samples_sent += len(piece)
        if self.samples_sent >= len(self.samples):
            self.ended_at = at + len(piece) / self.sample_rate
            self._done.set()
        return piece


class CallerAudioInput(io.AudioInput):
    """A simulated caller's microphone: a real-time async iterator of mono PCM16 frames.

    Frames are silence unless an utterance queued with :meth:`say` / :meth:`play` is playing;
    utterances play one after another, each starting on a frame boundary. The frame covering
    ``[t, t + frame_duration]`` is delivered at its end, like a real microphone, and the clock
    advances by exactly one frame per frame, so delivery never drifts. The clock starts on the
    first pull; if the consumer stops pulling for longer than ``max_lag`` the clock restarts
    rather than bursting (that time was never heard), so queued speech waits for a listener.
    Only one consumer (the session) may iterate it.

    ``line``, if given, is what the caller's audio goes through on its way (at the input's rate),
    e.g. :meth:`simulator.phone.PhoneLine.carry`: utterances and the recording are what it
    delivers.
    """

    def __init__(
        self,
        *,
        sample_rate: int = DEFAULT_SAMPLE_RATE,
        frame_duration: float = DEFAULT_FRAME_DURATION,
        max_lag: float = DEFAULT_MAX_LAG,
        label: str = "CallerAudioInput",
        line: AudioLine | None = None,
    ) -> None:
        super().__init__(label=label)
        self._line = line
        self._sample_rate = sample_rate
        self._frame_samples = _frame_samples(sample_rate, frame_duration)
        self._frame_duration = self._frame_samples / sample_rate
        self._max_lag = max_lag
        self._queue: deque[Utterance] = deque()
        self._utterances: list[Utterance] = []
        self._chunks: list[TimedChunk] = []
        self._clock: float | None = None
        self._closed = False

    @property
    def sample_rate(self) -> int:
        """The rate of every frame delivered and of every recorded chunk."""
        return self._sample_rate

    @property
    def speaking(self) -> bool:
        """True while an utterance has started and is not done."""
        return any(u.started_at is not None and not u.done() for u in self._queue)

    @property
    def utterances(self) -> list[Utterance]:
        """Every utterance queued so far, in order (including cancelled ones)."""
        return list(self._utterances)

    @property
    def recorded_chunks(self) -> list[TimedChunk]:
        """The caller audio actually delivered, timestamped (silence frames are not stored)."""
        return list(self._chunks)

    def play(self, samples: AudioSamples, *, sample_rate: int | None = None) -> Utterance:
        """Queue caller audio without waiting; returns its :class:`Utterance` handle.

        ``samples`` is mono int16 or float; ``sample_rate`` (default: the input's rate) is the rate
        they are at, and they are resampled to the input's rate if it differs.
        """
        if self._closed:
            raise RuntimeError("CallerAudioInput is closed")
        pcm = to_int16(samples)
        pcm = resample(pcm, sample_rate or self._sample_rate, self._sample_rate)
        if self._line is not None and len(pcm):
            pcm = self._line(pcm)
        utterance = Utterance(pcm.copy(), self._sample_rate)
        self._utterances.append(utterance)
        if len(pcm) == 0:
            utterance._done.set()
        else:
            self._queue.append(utterance)
        return utterance

    async def say(self, samples: AudioSamples, *, sample_rate: int | None = None) -> bool:
        """Speak: queue the audio and return once all of it was delivered to the session.

        Returns False if the utterance was cancelled (:meth:`cancel`, or the input closed).
        Cancelling the task awaiting ``say()`` cancels the utterance too.
        """
        utterance = self.play(samples, sample_rate=sample_rate)
        try:
            return await utterance.wait()
        finally:
            utterance.cancel()

    def cancel(self) -> None:
        """Stop speaking now: cancel the current utterance and every queued one."""
        for utterance in self._queue:
            utterance.cancel()
        self._queue.clear()

    async def aclose(self) -> None:
        """End the iterator (the session sees end of input) and cancel queued speech."""
        self._closed = True
        self.cancel()

    async def __anext__(self) -> rtc.AudioFrame:
        if self._closed:
            raise StopAsyncIteration
        now = time.monotonic()
        if self._clock is None or now - self._clock > self._frame_duration + self._max_lag:
            self._clock = now
        delay = self._clock + self._frame_duration - now
        await asyncio.sleep(max(delay, 0.0))
        if self._closed:
            raise StopAsyncIteration
        start = self._clock
        self._clock = start + self._frame_duration
        pcm = self._next_samples(start)
        return rtc.AudioFrame(pcm.tobytes(), self._sample_rate, 1, self._frame_samples)

    def _next_samples(self, start: float) -> Int16Array:
        out = np.zeros(self._frame_samples, dtype=np.int16)
        while self._queue and self._queue[0].done():
            self._queue.popleft()
        if not self._queue:
            return out
        utterance = self._queue[0]
        piece = utterance._take(self._frame_samples, start)
        out[: len(piece)] = piece
        self._chunks.append(TimedChunk(start, piece.copy(), self._sample_rate))
        if utterance.done():
            self._queue.popleft()
        return out


# --- agent speaker -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlayedSegment:
    """One playback segment of the agent (the audio between two ``flush()`` calls).

    Times are ``time.monotonic()``: ``started_at`` is None if nothing of it played, ``ended_at``
    is None while it is still playing.
    """

    index: int
    sample_rate: int
    started_at: float | None
    ended_at: float | None
    samples_captured: int
    samples_played: int
    interrupted: bool

    @property
    def playback_position(self) -> float:
        """Seconds of the segment that played (what the framework is told)."""
        return self.samples_played / self.sample_rate


SegmentEvent: TypeAlias = Literal["started", "finished"]
SegmentListener: TypeAlias = Callable[[SegmentEvent, PlayedSegment], None]


class _Alarm:
    """An interruptible sleep: :meth:`ring` wakes the current sleeper early."""

    def __init__(self) -> None:
        self._waiter: asyncio.Future[None] | None = None

    async def sleep(self, delay: float | None) -> None:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiter = waiter
        handle = None if delay is None else loop.call_later(max(delay, 0.0), self._wake, waiter)
        try:
            await waiter
        finally:
            if handle is not None:
                handle.cancel()
            if self._waiter is waiter:
                self._waiter = None

    def ring(self) -> None:
        if self._waiter is not None:
            self._wake(self._waiter)

    @staticmethod
    def _wake(waiter: asyncio.Future[None]) -> None:
        if not waiter.done():
            waiter.set_result(None)


@dataclass(eq=False)
class _Segment:
    index: int
    pending: deque[Int16Array] = field(default_factory=deque)
    pending_samples: int = 0
    captured: int = 0
    played: int = 0
    flushed: bool = False
    interrupted: bool = False
    started_at: float | None = None
    run_start: float | None = None
    run_offset: int = 0

    def take(self, n: int) -> Int16Array:
        parts: list[Int16Array] = []
        while n > 0 and self.pending:
            head = self.pending[0]
            if len(head) <= n:
                parts.append(self.pending.popleft())
                n -= len(head)
            else:
                parts.append(head[:n])
                self.pending[0] = head[n:]
                n = 0
        out = parts[0] if len(parts) == 1 else np.concatenate(parts)
        self.pending_samples -= len(out)
        return out


class CapturingAudioOutput(io.AudioOutput):
    """The agent's speaker: plays captured audio in real time and records what really played.

    A playout task hands ``frame_duration`` of audio to a virtual device per frame duration. It
    emits ``playback_started`` when a segment's first frame plays, ``playback_progressed`` for
    each uninterrupted run, and ``playback_finished`` once a flushed segment has played out, or at
    once (``interrupted=True``) after :meth:`clear_buffer`; the position counts what played, to
    one frame. :meth:`pause` holds playout (no audio advances, no events) until :meth:`resume`.
    Frames must be PCM16 at ``sample_rate`` (the framework resamples TTS audio to it);
    multichannel frames are down-mixed to mono. A segment captured while another is still playing
    queues behind it.

    Subscribe with :meth:`add_listener` to know precisely when the agent starts and stops audio.
    """

    def __init__(
        self,
        *,
        sample_rate: int = DEFAULT_SAMPLE_RATE,
        frame_duration: float = DEFAULT_FRAME_DURATION,
        max_lag: float = DEFAULT_MAX_LAG,
        label: str = "CapturingAudioOutput",
    ) -> None:
        super().__init__(
            label=label,
            capabilities=io.AudioOutputCapabilities(pause=True),
            sample_rate=sample_rate,
        )
        self._rate = sample_rate
        self._frame_samples = _frame_samples(sample_rate, frame_duration)
        self._max_lag = max_lag
        self._segments: deque[_Segment] = deque()
        self._open: _Segment | None = None
        self._next_index = 0
        self._paused = False
        self._closed = False
        self._alarm = _Alarm()
        self._task: asyncio.Task[None] | None = None
        self._chunks: list[TimedChunk] = []
        # the chunk on the device: (segment, index in _chunks); cut short if its segment is cleared
        self._inflight: tuple[_Segment, int] | None = None
        self._finished: list[PlayedSegment] = []
        self._listeners: list[SegmentListener] = []

    @property
    def paused(self) -> bool:
        """True between :meth:`pause` and :meth:`resume`."""
        return self._paused

    @property
    def playing(self) -> bool:
        """True between a segment's "started" and "finished" events (also while paused)."""
        return any(seg.started_at is not None for seg in self._segments)

    @property
    def segments(self) -> list[PlayedSegment]:
        """Finished segments in order, including ones cleared before they played."""
        return list(self._finished)

    @property
    def recorded_chunks(self) -> list[TimedChunk]:
        """The agent audio that actually played, timestamped; cleared audio is not in it."""
        return list(self._chunks)

    def add_listener(self, listener: SegmentListener) -> Callable[[], None]:
        """Call ``listener(event, segment)`` on each segment's "started" and "finished".

        Called from the playout task right after the framework's own event. Returns a function
        that removes the listener.
        """
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        """Queue a frame of the current segment (faster than real time is fine)."""
        if self._closed:
            raise RuntimeError("CapturingAudioOutput is closed")
        if frame.sample_rate != self._rate:
            raise ValueError(f"expected {self._rate} Hz audio, got {frame.sample_rate} Hz")
        pcm = np.frombuffer(frame.data, dtype=np.int16)
        if frame.num_channels > 1:
            pcm = pcm.reshape(-1, frame.num_channels).mean(axis=1).astype(np.int16)
        else:
            pcm = pcm.copy()
        await super().capture_frame(frame)
        if self._task is None:
            self._task = asyncio.create_task(self._playout(), name="CapturingAudioOutput.playout")
            self._task.add_done_callback(_log_crash)
        segment = self._open
        if segment is None:
            segment = self._open = _Segment(index=self._next_index)
            self._next_index += 1
            self._segments.append(segment)
        segment.captured += len(pcm)
        if segment.interrupted:
            return  # cleared before its flush: the rest of the segment is dropped
        segment.pending.append(pcm)
        segment.pending_samples += len(pcm)
        self._alarm.ring()

    def flush(self) -> None:
        """End the current segment; it finishes once all of it has played."""
        super().flush()
        if self._open is not None:
            self._open.flushed = True
            self._open = None
            self._alarm.ring()

    def clear_buffer(self) -> None:
        """Interrupt: drop all unplayed audio and finish every segment as interrupted."""
        for segment in self._segments:
            segment.interrupted = True
            segment.pending.clear()
            segment.pending_samples = 0
        self._alarm.ring()

    def pause(self) -> None:
        """Hold playout where it is (the frame on the device still finishes)."""
        super().pause()
        self._paused = True
        self._alarm.ring()

    def resume(self) -> None:
        """Continue playout after :meth:`pause`."""
        super().resume()
        self._paused = False
        self._alarm.ring()

    async def aclose(self) -> None:
        """Stop the playout task; unfinished segments finish as interrupted."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        now = time.monotonic()
        for segment in list(self._segments):
            self._finish(segment, interrupted=True, at=now)

    async def _playout(self) -> None:
        chunk_end: float | None = None  # when the frame on the device finishes
        while True:
            now = time.monotonic()
            if self._finish_cleared(now):
                chunk_end = None
            if chunk_end is not None and now < chunk_end:
                await self._alarm.sleep(chunk_end - now)
                continue
            segment = self._segments[0] if self._segments else None
            if segment is not None and segment.pending_samples and not self._paused:
                if chunk_end is None or now - chunk_end > self._max_lag:
                    chunk_end = now
                chunk_end = self._play_frame(segment, chunk_end)
                continue
            if segment is not None and segment.flushed and not segment.pending_samples:
                self._finish(segment, interrupted=False, at=now if chunk_end is None else chunk_end)
                continue
            # paused, starved (TTS slower than real time) or idle: the device stops
            if segment is not None:
                self._end_run(segment)
            chunk_end = None
            await self._alarm.sleep(None)

    def _play_frame(self, segment: _Segment, start: float) -> float:
        pcm = segment.take(self._frame_samples)
        if segment.started_at is None:
            segment.started_at = start
            self.on_playback_started(created_at=_to_wall(start))
            self._emit("started", self._snapshot(segment, ended_at=None, interrupted=False))
        if segment.run_start is None:
            segment.run_start, segment.run_offset = start, segment.played
        self._inflight = (segment, len(self._chunks))
        self._chunks.append(TimedChunk(start, pcm, self._rate))
        segment.played += len(pcm)
        return start + len(pcm) / self._rate

    def _finish_cleared(self, now: float) -> bool:
        """Finish cleared segments; True if that cut the frame on the device short."""
        cut = False
        for segment in [s for s in self._segments if s.interrupted]:
            if self._inflight is not None and self._inflight[0] is segment:
                chunk = self._chunks[self._inflight[1]]
                heard = min(len(chunk.samples), max(0, round((now - chunk.start) * self._rate)))
                if heard < len(chunk.samples):
                    self._chunks[self._inflight[1]] = TimedChunk(
                        chunk.start, chunk.samples[:heard], chunk.sample_rate
                    )
                    segment.played -= len(chunk.samples) - heard
                    cut = True
                self._inflight = None
            self._finish(segment, interrupted=True, at=now)
        return cut

    def _end_run(self, segment: _Segment) -> None:
        if segment.run_start is None:
            return
        duration = (segment.played - segment.run_offset) / self._rate
        if duration > 0:
            self.on_playback_progressed(
                started_at=_to_wall(segment.run_start),
                offset=segment.run_offset / self._rate,
                duration=duration,
            )
        segment.run_start = None

    def _finish(self, segment: _Segment, *, interrupted: bool, at: float) -> None:
        self._end_run(segment)
        self._segments.remove(segment)
        record = self._snapshot(segment, ended_at=at, interrupted=interrupted)
        self._finished.append(record)
        self.on_playback_finished(
            playback_position=record.playback_position, interrupted=interrupted
        )
        self._emit("finished", record)

    def _snapshot(
        self, segment: _Segment, *, ended_at: float | None, interrupted: bool
    ) -> PlayedSegment:
        return PlayedSegment(
            index=segment.index,
            sample_rate=self._rate,
            started_at=segment.started_at,
            ended_at=ended_at,
            samples_captured=segment.captured,
            samples_played=segment.played,
            interrupted=interrupted,
        )

    def _emit(self, event: SegmentEvent, record: PlayedSegment) -> None:
        for listener in list(self._listeners):
            try:
                listener(event, record)
            except Exception:
                log.exception("audio output listener failed", extra={"event": event})


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error("audio playout task crashed", exc_info=exc)


# --- agent transcript ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TranscriptSegment:
    """Agent text between two flushes; times are ``time.monotonic()`` of first text and flush."""

    started_at: float
    ended_at: float
    text: str


class TranscriptCollector(io.TextOutput):
    """Records the agent's transcript text with timestamps.

    Optional: an ``AgentSession`` runs audio without it. Without a room the text arrives as the
    model produces it, not synchronised with playback; use :class:`CapturingAudioOutput` segments
    for timing.
    """

    def __init__(
        self, *, label: str = "TranscriptCollector", next_in_chain: io.TextOutput | None = None
    ) -> None:
        super().__init__(label=label, next_in_chain=next_in_chain)
        self._parts: list[str] = []
        self._started_at = 0.0
        self._segments: list[TranscriptSegment] = []

    @property
    def segments(self) -> list[TranscriptSegment]:
        """Completed segments in order."""
        return list(self._segments)

    @property
    def text(self) -> str:
        """Every completed segment's text, one per line."""
        return "\n".join(segment.text for segment in self._segments)

    async def capture_text(self, text: str) -> None:
        """Append text to the current segment."""
        if not self._parts:
            self._started_at = time.monotonic()
        self._parts.append(str(text))
        if self.next_in_chain is not None:
            await self.next_in_chain.capture_text(text)

    def flush(self) -> None:
        """Complete the current segment."""
        if self._parts:
            text = "".join(self._parts)
            self._segments.append(TranscriptSegment(self._started_at, time.monotonic(), text))
            self._parts = []
        if self.next_in_chain is not None:
            self.next_in_chain.flush()


# --- stereo recording ----------------------------------------------------------------------------


def render_track(
    chunks: Sequence[TimedChunk], *, start_time: float, num_samples: int, sample_rate: int
) -> Int16Array:
    """Lay timestamped chunks on a silent mono track of ``num_samples`` from ``start_time``.

    Overlapping chunks are mixed (summed and clipped); audio outside the track is cut off. All
    chunks must share one rate; the track is resampled to ``sample_rate`` if it differs.
    """
    rates = {chunk.sample_rate for chunk in chunks}
    if len(rates) > 1:
        raise ValueError(f"chunks at several sample rates: {sorted(rates)}")
    native = rates.pop() if rates else sample_rate
    length = round(num_samples * native / sample_rate)
    track = np.zeros(length, dtype=np.int32)
    for chunk in chunks:
        offset = round((chunk.start - start_time) * native)
        lo, hi = max(offset, 0), min(offset + len(chunk.samples), length)
        if hi > lo:
            track[lo:hi] += chunk.samples[lo - offset : hi - offset]
    pcm = np.clip(track, -32768, 32767).astype(np.int16)
    pcm = resample(pcm, native, sample_rate)
    return np.pad(pcm, (0, max(0, num_samples - len(pcm))))[:num_samples]


def render_stereo(
    left: Sequence[TimedChunk],
    right: Sequence[TimedChunk],
    *,
    start_time: float,
    sample_rate: int,
    end_time: float | None = None,
) -> Int16Array:
    """A ``(samples, 2)`` int16 array: ``left`` and ``right`` on one timeline from ``start_time``.

    ``end_time`` defaults to the end of the last chunk.
    """
    if end_time is None:
        end_time = max((chunk.end for chunk in (*left, *right)), default=start_time)
    num_samples = max(0, round((end_time - start_time) * sample_rate))
    channels = [
        render_track(
            chunks, start_time=start_time, num_samples=num_samples, sample_rate=sample_rate
        )
        for chunks in (left, right)
    ]
    return np.stack(channels, axis=1)


def write_wav(path: str | Path, audio: Int16Array, sample_rate: int) -> Path:
    """Write int16 audio, mono ``(n,)`` or interleaved ``(n, channels)``, as a PCM WAV file."""
    path = Path(path)
    channels = 1 if audio.ndim == 1 else audio.shape[1]
    with wave.open(str(path), "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(np.ascontiguousarray(audio, dtype="<i2").tobytes())
    return path


class CallRecorder:
    """Builds the stereo recording of a call: caller on the left, agent on the right.

    Time zero is ``start_time`` (``time.monotonic()``; default: when the recorder was made), so
    make it when the call starts. Reads the endpoints' recordings when rendering, any number of
    times. ``agent_line``, if given, is what the agent's track goes through (at
    :attr:`sample_rate`, same length), e.g. :meth:`simulator.phone.PhoneLine.codec`: the agent as
    the caller hears it.
    """

    def __init__(
        self,
        caller: CallerAudioInput,
        agent: CapturingAudioOutput,
        *,
        sample_rate: int | None = None,
        start_time: float | None = None,
        agent_line: AudioLine | None = None,
    ) -> None:
        self.caller = caller
        self.agent = agent
        self.agent_line = agent_line
        self.sample_rate = sample_rate or caller.sample_rate
        self.start_time = time.monotonic() if start_time is None else start_time

    def render(self, *, end_time: float | None = None) -> Int16Array:
        """The call so far as a ``(samples, 2)`` int16 array at :attr:`sample_rate`."""
        stereo = render_stereo(
            self.caller.recorded_chunks,
            self.agent.recorded_chunks,
            start_time=self.start_time,
            sample_rate=self.sample_rate,
            end_time=end_time,
        )
        if self.agent_line is not None and len(stereo):
            stereo[:, 1] = self.agent_line(np.ascontiguousarray(stereo[:, 1]))
        return stereo

    def write(self, path: str | Path, *, end_time: float | None = None) -> Path:
        """Render and write the call as a stereo WAV file; returns the path."""
        return write_wav(path, self.render(end_time=end_time), self.sample_rate)
