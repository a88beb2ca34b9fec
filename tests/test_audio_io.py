"""Room-free audio I/O: a real-time caller microphone, a real-time capturing speaker, and the
stereo call recording built from both. Timing bounds are generous; alignment is checked to 20 ms.
"""

from __future__ import annotations

import asyncio
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from livekit import rtc
from livekit.agents import Agent, AgentSession, llm, tts
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions
from livekit.agents.voice import io

from simulator.audio_io import (
    CallerAudioInput,
    CallRecorder,
    CapturingAudioOutput,
    PlayedSegment,
    TimedChunk,
    TranscriptCollector,
    render_stereo,
)

RATE = 24_000


def tone(seconds: float, *, rate: int = RATE, level: int = 8000) -> npt.NDArray[np.int16]:
    """A 440 Hz tone with no zero samples, so "nonzero" means "this audio"."""
    t = np.arange(round(seconds * rate)) / rate
    wave_: npt.NDArray[np.float64] = np.sin(2 * np.pi * 440 * t) * level
    nonzero: npt.NDArray[np.float64] = np.where(
        wave_ >= 0, np.maximum(wave_, 1), np.minimum(wave_, -1)
    )
    return nonzero.astype(np.int16)


def frames_of(samples: npt.NDArray[np.int16], *, rate: int = RATE, ms: int = 20) -> list[Any]:
    step = rate * ms // 1000
    return [
        rtc.AudioFrame(samples[i : i + step].tobytes(), rate, 1, len(samples[i : i + step]))
        for i in range(0, len(samples), step)
    ]


async def capture(out: CapturingAudioOutput, samples: npt.NDArray[np.int16]) -> None:
    for frame in frames_of(samples):
        await out.capture_frame(frame)


async def pull(source: CallerAudioInput, seconds: float) -> npt.NDArray[np.int16]:
    """Consume the input like the session does, for ``seconds`` of audio."""
    chunks: list[npt.NDArray[np.int16]] = []
    got = 0
    async for frame in source:
        chunks.append(np.frombuffer(frame.data, dtype=np.int16).copy())
        got += frame.samples_per_channel
        if got >= seconds * source.sample_rate:
            break
    return np.concatenate(chunks)


def runs(audio: npt.NDArray[np.int16]) -> list[tuple[int, int]]:
    """[start, end) sample ranges of nonzero audio."""
    nonzero = np.concatenate([[0], (audio != 0).astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(nonzero))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


# --- caller input --------------------------------------------------------------------------------


async def test_input_runs_in_real_time_with_silence_around_speech() -> None:
    caller = CallerAudioInput(sample_rate=RATE)
    started = time.monotonic()
    listener = asyncio.create_task(pull(caller, 1.0))

    await asyncio.sleep(0.2)
    said_at = time.monotonic()
    assert await caller.say(tone(0.3)) is True
    say_took = time.monotonic() - said_at
    audio = await listener
    elapsed = time.monotonic() - started

    assert 0.95 <= elapsed < 1.5  # a second of audio takes a second, not a busy loop
    assert 0.25 <= say_took < 0.5  # say() returns once the audio has gone out
    assert runs(audio)
    assert len(runs(audio)) == 1
    start, end = runs(audio)[0]
    assert end - start == round(0.3 * RATE)
    assert 0.15 <= start / RATE <= 0.3  # silence before, at the time say() was called
    assert not caller.speaking

    (utterance,) = caller.utterances
    assert utterance.samples_sent == round(0.3 * RATE)
    assert utterance.started_at is not None
    assert utterance.ended_at is not None
    assert utterance.ended_at - utterance.started_at == pytest.approx(0.3)
    recorded = caller.recorded_chunks
    assert sum(len(c.samples) for c in recorded) == round(0.3 * RATE)
    assert recorded[0].start == utterance.started_at
    await caller.aclose()


async def test_input_pacing_does_not_drift_for_a_slow_consumer() -> None:
    caller = CallerAudioInput(sample_rate=16_000, frame_duration=0.02)
    started = time.monotonic()
    count = 0
    async for frame in caller:
        assert (frame.sample_rate, frame.samples_per_channel) == (16_000, 320)
        count += 1
        if count % 10 == 0:
            await asyncio.sleep(0.03)  # a consumer that stalls (under max_lag) catches up
        if count == 50:
            break
    assert 0.95 <= time.monotonic() - started < 1.3


async def test_cancelling_say_stops_the_caller_mid_sentence() -> None:
    caller = CallerAudioInput(sample_rate=RATE)
    listener = asyncio.create_task(pull(caller, 0.8))
    speaking = asyncio.create_task(caller.say(tone(2.0)))
    await asyncio.sleep(0.3)
    assert caller.speaking
    speaking.cancel()
    with pytest.raises(asyncio.CancelledError):
        await speaking
    audio = await listener

    (utterance,) = caller.utterances
    assert utterance.cancelled
    assert utterance.done()
    assert 0.2 * RATE <= utterance.samples_sent <= 0.45 * RATE
    assert int(np.count_nonzero(audio)) == utterance.samples_sent  # silence afterwards
    assert sum(len(c.samples) for c in caller.recorded_chunks) == utterance.samples_sent
    await caller.aclose()


async def test_cancel_drops_current_and_queued_utterances() -> None:
    caller = CallerAudioInput(sample_rate=RATE)
    listener = asyncio.create_task(pull(caller, 0.5))
    first, second = caller.play(tone(1.0)), caller.play(tone(1.0))
    await asyncio.sleep(0.15)
    caller.cancel()
    assert await first.wait() is False
    assert await second.wait() is False
    audio = await listener
    assert second.samples_sent == 0
    assert second.started_at is None
    assert np.count_nonzero(audio) == first.samples_sent < RATE
    await caller.aclose()


async def test_input_converts_float_and_resamples() -> None:
    caller = CallerAudioInput(sample_rate=RATE)
    utterance = caller.play(np.full(1600, 0.5, dtype=np.float32), sample_rate=16_000)
    assert utterance.samples.dtype == np.int16
    assert len(utterance.samples) == 2400  # 0.1 s at the input's rate
    assert abs(int(utterance.samples[1200]) - 16384) < 200
    with pytest.raises(ValueError, match="mono"):
        caller.play(np.zeros((10, 2), dtype=np.int16))
    await caller.aclose()


async def test_aclose_ends_the_iterator_and_cancels_speech() -> None:
    caller = CallerAudioInput(sample_rate=RATE)
    utterance = caller.play(tone(1.0))
    frames = 0

    async def consume() -> None:
        nonlocal frames
        async for _ in caller:
            frames += 1

    consumer = asyncio.create_task(consume())
    await asyncio.sleep(0.1)
    await caller.aclose()
    await asyncio.wait_for(consumer, 1)
    assert frames > 0
    assert utterance.cancelled
    with pytest.raises(RuntimeError):
        caller.play(tone(0.1))


# --- agent output --------------------------------------------------------------------------------


def track_events(out: io.AudioOutput) -> list[tuple[str, Any]]:
    events: list[tuple[str, Any]] = []
    for name in ("playback_started", "playback_progressed", "playback_finished"):
        out.on(name, lambda ev, name=name: events.append((name, ev)))
    return events


async def test_output_plays_in_real_time_and_reports_started_then_finished() -> None:
    out = CapturingAudioOutput(sample_rate=RATE)
    events = track_events(out)
    seen: list[tuple[str, PlayedSegment]] = []
    remove = out.add_listener(lambda event, segment: seen.append((event, segment)))
    assert out.can_pause

    started = time.monotonic()
    await capture(out, tone(0.4))  # faster than real time
    out.flush()
    assert time.monotonic() - started < 0.1
    finished = await out.wait_for_playout()
    elapsed = time.monotonic() - started

    assert 0.38 <= elapsed < 0.7
    assert [name for name, _ in events] == [
        "playback_started",
        "playback_progressed",
        "playback_finished",
    ]
    assert events[0][1].created_at == pytest.approx(time.time() - elapsed, abs=0.1)
    assert finished.interrupted is False
    assert finished.playback_position == pytest.approx(0.4)
    assert [event for event, _ in seen] == ["started", "finished"]
    (segment,) = out.segments
    assert segment == seen[1][1]
    assert segment.samples_played == segment.samples_captured == round(0.4 * RATE)
    assert segment.started_at is not None
    assert segment.ended_at is not None
    assert segment.ended_at - segment.started_at == pytest.approx(0.4, abs=0.05)
    played = np.concatenate([c.samples for c in out.recorded_chunks])
    np.testing.assert_array_equal(played, tone(0.4))
    assert not out.playing

    remove()
    await capture(out, tone(0.05))
    out.flush()
    await out.wait_for_playout()
    assert len(seen) == 2
    assert len(out.segments) == 2
    await out.aclose()


async def test_clear_buffer_interrupts_at_the_played_position() -> None:
    out = CapturingAudioOutput(sample_rate=RATE)
    events = track_events(out)
    await capture(out, tone(2.0))
    out.flush()
    await asyncio.sleep(0.3)
    assert out.playing

    cleared_at = time.monotonic()
    out.clear_buffer()
    finished = await out.wait_for_playout()
    assert time.monotonic() - cleared_at < 0.05  # honoured at once

    assert finished.interrupted is True
    assert 0.25 <= finished.playback_position <= 0.4
    assert next(name for name, _ in events) == "playback_started"
    assert [name for name, _ in events][-1] == "playback_finished"
    (segment,) = out.segments
    assert segment.interrupted
    assert segment.samples_captured == 2 * RATE
    assert segment.playback_position == pytest.approx(finished.playback_position)
    played = sum(len(c.samples) for c in out.recorded_chunks)
    assert played == segment.samples_played  # the cleared audio is not in the recording
    await asyncio.sleep(0.1)
    assert sum(len(c.samples) for c in out.recorded_chunks) == played
    await out.aclose()


async def test_clear_before_flush_drops_the_rest_of_the_segment() -> None:
    """The framework cancels a forwarding task with flush() then clear_buffer(); a sink may also
    see clear_buffer() first, with frames still arriving before the flush."""
    out = CapturingAudioOutput(sample_rate=RATE)
    await capture(out, tone(1.0))
    await asyncio.sleep(0.15)
    out.clear_buffer()
    finished = await out.wait_for_playout()
    assert finished.interrupted
    await capture(out, tone(0.5))  # late frames of the cleared segment
    out.flush()
    out.clear_buffer()
    assert out.captured_playout_segments == 1  # still the same segment
    assert len(out.segments) == 1
    await asyncio.sleep(0.05)
    assert sum(len(c.samples) for c in out.recorded_chunks) == out.segments[0].samples_played

    await capture(out, tone(0.1))  # the next segment plays normally
    out.flush()
    finished = await asyncio.wait_for(out.wait_for_playout(), 1)
    assert not finished.interrupted
    assert finished.playback_position == pytest.approx(0.1)
    played = sum(len(c.samples) for c in out.recorded_chunks)
    assert played == out.segments[0].samples_played + round(0.1 * RATE)
    await out.aclose()


async def test_clear_before_anything_played_finishes_without_starting() -> None:
    out = CapturingAudioOutput(sample_rate=RATE)
    events = track_events(out)
    out.pause()
    await capture(out, tone(0.5))
    out.flush()
    await asyncio.sleep(0.05)
    out.clear_buffer()
    finished = await out.wait_for_playout()
    assert finished.interrupted
    assert finished.playback_position == 0
    assert [name for name, _ in events] == ["playback_finished"]
    assert out.recorded_chunks == []
    out.resume()
    await out.aclose()


async def test_pause_holds_playout_and_resume_continues() -> None:
    out = CapturingAudioOutput(sample_rate=RATE)
    events = track_events(out)
    started = time.monotonic()
    await capture(out, tone(0.6))
    out.flush()
    await asyncio.sleep(0.2)

    out.pause()
    assert out.paused
    await asyncio.sleep(0.02)
    held = sum(len(c.samples) for c in out.recorded_chunks)
    await asyncio.sleep(0.3)
    assert sum(len(c.samples) for c in out.recorded_chunks) == held  # nothing advances
    assert 0.15 * RATE <= held <= 0.3 * RATE
    out.resume()

    finished = await out.wait_for_playout()
    assert time.monotonic() - started >= 0.85  # 0.6 s of audio plus a 0.3 s pause
    assert not finished.interrupted
    assert finished.playback_position == pytest.approx(0.6)
    names = [name for name, _ in events]
    assert names == [
        "playback_started",
        "playback_progressed",
        "playback_progressed",
        "playback_finished",
    ]
    first, second = events[1][1], events[2][1]
    assert first.offset == 0
    assert first.duration == pytest.approx(held / RATE)
    assert second.offset == pytest.approx(held / RATE)
    assert second.started_at - first.started_at >= 0.45  # the gap of the pause
    np.testing.assert_array_equal(
        np.concatenate([c.samples for c in out.recorded_chunks]), tone(0.6)
    )
    await out.aclose()


async def test_output_rejects_another_rate_and_closes_open_segments() -> None:
    out = CapturingAudioOutput(sample_rate=RATE)
    with pytest.raises(ValueError, match="24000"):
        await out.capture_frame(frames_of(tone(0.02, rate=16_000), rate=16_000)[0])
    await capture(out, tone(1.0))
    out.flush()
    await out.aclose()
    finished = await asyncio.wait_for(out.wait_for_playout(), 1)
    assert finished.interrupted


# --- stereo recording ----------------------------------------------------------------------------


def test_render_stereo_places_chunks_at_their_times() -> None:
    t0 = 1000.0
    click = np.full(240, 9000, dtype=np.int16)
    left = [TimedChunk(t0 + 0.2, click, RATE)]
    right = [TimedChunk(t0 + 0.5, click, RATE), TimedChunk(t0 - 0.1, click, RATE)]
    stereo = render_stereo(left, right, start_time=t0, sample_rate=RATE, end_time=t0 + 1)
    assert stereo.shape == (RATE, 2)
    assert stereo.dtype == np.int16
    assert runs(stereo[:, 0]) == [(int(0.2 * RATE), int(0.2 * RATE) + 240)]
    assert runs(stereo[:, 1]) == [(int(0.5 * RATE), int(0.5 * RATE) + 240)]

    at_16k = render_stereo(left, right, start_time=t0, sample_rate=16_000)
    assert at_16k.shape == (round(0.51 * 16_000), 2)
    loud = np.flatnonzero(np.abs(at_16k[:, 1]) > 4000)
    assert abs(loud[0] - 0.5 * 16_000) <= 16


async def test_call_recording_aligns_caller_and_agent(tmp_path: Path) -> None:
    caller = CallerAudioInput(sample_rate=RATE)
    agent = CapturingAudioOutput(sample_rate=RATE)
    recorder = CallRecorder(caller, agent)
    listener = asyncio.create_task(pull(caller, 0.8))

    await asyncio.sleep(recorder.start_time + 0.2 - time.monotonic())
    caller.play(tone(0.05))
    await asyncio.sleep(recorder.start_time + 0.5 - time.monotonic())
    await capture(agent, tone(0.05))
    agent.flush()
    await agent.wait_for_playout()
    await listener

    stereo = recorder.render()
    left, right = runs(stereo[:, 0]), runs(stereo[:, 1])
    assert len(left) == 1
    assert len(right) == 1
    assert abs(left[0][0] / RATE - 0.2) <= 0.02
    assert abs(right[0][0] / RATE - 0.5) <= 0.02
    assert left[0][1] - left[0][0] == right[0][1] - right[0][0] == round(0.05 * RATE)

    path = recorder.write(tmp_path / "call.wav")
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, RATE)
        data = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)
    np.testing.assert_array_equal(data, stereo)
    await caller.aclose()
    await agent.aclose()


# --- a real AgentSession without a room ----------------------------------------------------------


class _FixedStream(llm.LLMStream):
    def __init__(self, owner: FixedLLM, **kwargs: Any) -> None:
        super().__init__(owner, **kwargs)
        self._text = owner.text

    async def _run(self) -> None:
        delta = llm.ChoiceDelta(role="assistant", content=self._text)
        self._event_ch.send_nowait(llm.ChatChunk(id="fixed", delta=delta))


class FixedLLM(llm.LLM[Any]):
    """Answers every turn with the same sentence."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def chat(
        self,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool] | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
        **kwargs: Any,
    ) -> llm.LLMStream:
        return _FixedStream(self, chat_ctx=chat_ctx, tools=tools or [], conn_options=conn_options)


class _ToneStream(tts.ChunkedStream):
    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        assert isinstance(self._tts, ToneTTS)
        output_emitter.initialize(
            request_id="tone", sample_rate=16_000, num_channels=1, mime_type="audio/pcm"
        )
        output_emitter.push(tone(self._tts.seconds, rate=16_000).tobytes())
        output_emitter.flush()


class ToneTTS(tts.TTS[Any]):
    """Speaks any text as a tone of a fixed length, at 16 kHz (the session resamples it)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=False), sample_rate=16_000, num_channels=1
        )
        self.seconds = seconds

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> tts.ChunkedStream:
        return _ToneStream(tts=self, input_text=text, conn_options=conn_options)


async def test_agent_session_speaks_through_the_capturing_output() -> None:
    caller = CallerAudioInput(sample_rate=RATE)
    speaker = CapturingAudioOutput(sample_rate=RATE)
    transcript = TranscriptCollector()
    voice = ToneTTS(seconds=0.4)
    session: AgentSession[None] = AgentSession(
        llm=FixedLLM("Hello, thanks for calling."),
        tts=voice,
        vad=None,
        turn_handling={"turn_detection": "manual"},
    )
    session.input.audio = caller
    session.output.audio = speaker
    session.output.transcription = transcript
    states: list[str] = []
    session.on("agent_state_changed", lambda ev: states.append(ev.new_state))
    try:
        await session.start(Agent(instructions="Greet the caller."))

        started = time.monotonic()
        await session.generate_reply(instructions="greet").wait_for_playout()
        assert time.monotonic() - started >= 0.35  # played in real time
        (greeting,) = speaker.segments
        assert not greeting.interrupted
        assert greeting.playback_position == pytest.approx(0.4, abs=0.05)
        assert "speaking" in states
        assert transcript.segments[-1].text == "Hello, thanks for calling."

        await session.say("One moment.")
        assert len(speaker.segments) == 2

        voice.seconds = 3.0
        handle = session.say("A long explanation.")
        await asyncio.sleep(0.5)
        assert speaker.playing
        await session.interrupt()
        await handle
        assert handle.interrupted
        long = speaker.segments[-1]
        assert long.interrupted
        assert 0.2 <= long.playback_position <= 1.0
        assert long.samples_captured > long.samples_played
    finally:
        await session.aclose()
        await caller.aclose()
        await speaker.aclose()
    played = sum(len(c.samples) for c in speaker.recorded_chunks)
    assert played == sum(s.samples_played for s in speaker.segments)
