"""The offline speech plugins with their real models: hibari speaks, Whisper listens.

Transcripts are checked by words (Whisper writes "four" or "4"), audio by structure, never by
timing. Models load once per module.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from livekit import rtc
from livekit.agents import stt, tts, vad
from livekit.plugins import silero

from responder.audio_io import Int16Array, resample
from responder.offline import HibariTTS, WhisperSTT

RATE = 24_000
UTTERANCE = "I would like a table for four on Friday at eight."
REPLY = ("Sure, I can book that table for you.", "What name should I put it under?")
LONG_REPLY = "One moment please. Let me check the diary. Friday looks free. Shall I book it?"


@pytest.fixture(scope="module")
def whisper() -> WhisperSTT:
    """The default offline STT, loaded."""
    model = WhisperSTT()
    model.load()
    return model


@pytest.fixture(scope="module")
def voice() -> HibariTTS:
    """The default offline voice, loaded."""
    model = HibariTTS()
    model.load()
    return model


@pytest.fixture(scope="module")
def silero_vad() -> vad.VAD:
    """The VAD an offline session uses."""
    return silero.VAD.load()


@pytest.fixture(scope="module")
def utterance(voice: HibariTTS) -> Int16Array:
    """A caller's request, spoken at 24 kHz."""
    return voice.render(UTTERANCE)


def words(text: str) -> set[str]:
    """Lower-case words and numbers of ``text``."""
    return set(re.findall(r"[a-z0-9']+", text.lower()))


def frames_of(samples: Int16Array, *, rate: int = RATE, channels: int = 1) -> list[rtc.AudioFrame]:
    """20 ms frames of interleaved samples, like a room delivers them."""
    step = rate // 50 * channels
    return [
        rtc.AudioFrame(
            samples[i : i + step].tobytes(), rate, channels, len(samples[i : i + step]) // channels
        )
        for i in range(0, len(samples), step)
    ]


def silence(seconds: float) -> Int16Array:
    """Digital silence at 24 kHz."""
    return np.zeros(round(seconds * RATE), dtype=np.int16)


def pcm_of(frames: list[rtc.AudioFrame]) -> Int16Array:
    """The samples of mono frames, concatenated."""
    return np.concatenate([np.frombuffer(frame.data, dtype=np.int16) for frame in frames])


async def transcript(whisper: WhisperSTT, frames: list[rtc.AudioFrame]) -> str:
    """What Whisper hears in ``frames``, checking it is one final transcript."""
    event = await whisper.recognize(frames)
    assert event.type is stt.SpeechEventType.FINAL_TRANSCRIPT
    [alternative] = event.alternatives
    return alternative.text


class GatedSentences:
    """Stands in front of hibari's per-sentence generator (``Hibari.stream``): counts how many
    sentences are asked for and holds the second one back until :attr:`release` is set."""

    def __init__(self, real: Callable[..., Iterator[Any]]) -> None:
        self.real = real
        self.requested = 0
        self.second_asked = threading.Event()
        self.release = threading.Event()
        self.second_done = threading.Event()

    def __call__(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        chunks = self.real(*args, **kwargs)
        while True:
            self.requested += 1
            if self.requested == 2:
                self.second_asked.set()
                if not self.release.wait(timeout=5):
                    raise AssertionError("the second sentence was never released")
            chunk = next(chunks, None)
            if self.requested == 2:
                self.second_done.set()
            if chunk is None:
                return
            yield chunk


async def wait_for(event: threading.Event) -> None:
    """Wait for a thread's event without blocking the loop."""
    assert await asyncio.to_thread(event.wait, 5)


@pytest.fixture
def gate(voice: HibariTTS, monkeypatch: pytest.MonkeyPatch) -> Iterator[GatedSentences]:
    """The shared voice with its second sentence held back (released at the end regardless)."""
    engine = voice.load()
    gated = GatedSentences(engine.stream)
    monkeypatch.setattr(engine, "stream", gated)
    yield gated
    gated.release.set()


# --- the plugins as the session sees them ---------------------------------------------------------


def test_both_declare_what_makes_the_session_wrap_them(
    whisper: WhisperSTT, voice: HibariTTS
) -> None:
    """Non-streaming, so an AgentSession adds its VAD / sentence StreamAdapter; named in metrics."""
    assert not whisper.capabilities.streaming
    assert not whisper.capabilities.interim_results
    assert (whisper.model, whisper.provider) == ("tiny.en", "faster-whisper")
    assert not voice.capabilities.streaming
    assert (voice.sample_rate, voice.num_channels) == (RATE, 1)
    assert (voice.model, voice.provider) == ("hibari-heart", "hibari")


# --- speech to text -------------------------------------------------------------------------------


async def test_what_the_voice_says_whisper_hears(whisper: WhisperSTT, voice: HibariTTS) -> None:
    frames = [event.frame async for event in voice.synthesize(UTTERANCE)]
    assert {frame.sample_rate for frame in frames} == {RATE}

    event = await whisper.recognize(frames)

    assert event.type is stt.SpeechEventType.FINAL_TRANSCRIPT
    [alternative] = event.alternatives
    heard = words(alternative.text)
    assert {"table", "friday"} <= heard
    assert heard & {"four", "4"}
    assert alternative.language == "en"
    assert 0.5 < alternative.confidence <= 1.0


@pytest.mark.parametrize(("rate", "channels"), [(16_000, 1), (48_000, 2)])
async def test_any_rate_and_channel_count_is_understood(
    whisper: WhisperSTT, utterance: Int16Array, rate: int, channels: int
) -> None:
    """Room audio is 48 kHz and may be stereo: here the caller is on the left channel only."""
    mono = resample(utterance, RATE, rate)
    interleaved = np.zeros((len(mono), channels), dtype=np.int16)
    interleaved[:, 0] = mono

    heard = words(
        await transcript(whisper, frames_of(interleaved.reshape(-1), rate=rate, channels=channels))
    )

    assert {"table", "friday"} <= heard


@pytest.mark.parametrize(
    "samples",
    [
        pytest.param(np.zeros(0, dtype=np.int16), id="no audio"),
        pytest.param(silence(1.5), id="digital silence"),
        pytest.param(
            (np.random.default_rng(7).standard_normal(RATE) * 200).astype(np.int16),
            id="line noise",
        ),
    ],
)
async def test_silence_is_an_empty_transcript(whisper: WhisperSTT, samples: Int16Array) -> None:
    """Whisper is known to hallucinate "Thank you." on silence; the caller said nothing."""
    assert await transcript(whisper, frames_of(samples)) == ""


async def test_a_vad_cut_utterance_becomes_one_final_transcript(
    whisper: WhisperSTT, silero_vad: vad.VAD, utterance: Int16Array
) -> None:
    """What the session does with a non-streaming STT: silero cuts, Whisper transcribes."""
    adapter = stt.StreamAdapter(stt=whisper, vad=silero_vad)
    audio = np.concatenate([silence(0.5), utterance, silence(1.5)])
    async with adapter.stream() as stream:
        for frame in frames_of(audio):
            stream.push_frame(frame)
        stream.end_input()
        events = [event async for event in stream]
    await adapter.aclose()

    assert [event.type for event in events] == [
        stt.SpeechEventType.START_OF_SPEECH,
        stt.SpeechEventType.END_OF_SPEECH,
        stt.SpeechEventType.FINAL_TRANSCRIPT,
    ]
    heard = words(events[-1].alternatives[0].text)
    assert {"table", "friday"} <= heard


def test_a_bad_model_path_is_named_in_the_error(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        WhisperSTT(model_path=str(missing))

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.bin").write_bytes(b"not a model")
    (broken / "tokenizer.json").write_text("{}")
    with pytest.raises(RuntimeError, match=re.escape(str(broken))):
        WhisperSTT(model_path=broken).load()


# --- text to speech -------------------------------------------------------------------------------


async def test_the_first_sentence_plays_before_the_second_is_synthesized(
    voice: HibariTTS, gate: GatedSentences
) -> None:
    text = " ".join(REPLY)
    async with voice.synthesize(text) as stream:
        async with asyncio.timeout(5):
            first = await anext(stream)  # sentence two is held back: this is sentence one
        await wait_for(gate.second_asked)  # ... and synthesis goes on behind it
        assert first.frame.sample_rate == RATE

        gate.release.set()
        rest = [event.frame async for event in stream]

    # streamed sentence by sentence, the audio is exactly the whole text rendered at once
    np.testing.assert_array_equal(pcm_of([first.frame, *rest]), voice.render(text))


async def test_an_interruption_stops_synthesis(voice: HibariTTS, gate: GatedSentences) -> None:
    stream = voice.synthesize(LONG_REPLY)
    await anext(stream)
    await wait_for(gate.second_asked)
    await stream.aclose()  # the session's interruption; returns while sentence two is held

    gate.release.set()
    await wait_for(gate.second_done)
    await asyncio.sleep(0.1)  # room for a third sentence to be asked for, if anything would

    assert gate.requested == 2  # of four sentences


async def test_text_with_nothing_to_say_is_a_moment_of_silence(voice: HibariTTS) -> None:
    """An LLM's stray bullet must not fail the synthesis (the session counts failures)."""
    frames = [event.frame async for event in voice.synthesize("*")]

    audio = pcm_of(frames)
    assert 0 < len(audio) <= RATE // 10
    assert not np.any(audio)


async def test_concurrent_syntheses_do_not_mix(voice: HibariTTS) -> None:
    """Two calls in one process share the voice; each gets exactly its own audio."""

    async def speak(text: str) -> Int16Array:
        return pcm_of([event.frame async for event in voice.synthesize(text)])

    first, second = await asyncio.gather(speak(LONG_REPLY), speak(" ".join(REPLY)))

    np.testing.assert_array_equal(first, voice.render(LONG_REPLY))
    np.testing.assert_array_equal(second, voice.render(" ".join(REPLY)))


async def test_the_sentence_adapter_speaks_a_reply_streamed_word_by_word(
    voice: HibariTTS, whisper: WhisperSTT
) -> None:
    """What the session does with a non-streaming TTS: sentences are synthesized as they end."""
    adapter = tts.StreamAdapter(tts=voice)
    async with adapter.stream() as stream:
        for word in " ".join(REPLY).split(" "):
            stream.push_text(word + " ")
        stream.end_input()
        frames = [event.frame async for event in stream]
    await adapter.aclose()

    expected_s = sum(len(voice.render(sentence)) for sentence in REPLY) / RATE
    assert sum(frame.duration for frame in frames) == pytest.approx(expected_s, abs=0.05)
    heard = words(await transcript(whisper, frames))
    assert {"book", "table", "name"} <= heard


def test_render_is_plain_int16_at_24_khz(voice: HibariTTS) -> None:
    """For scripts and the caller simulator: no event loop, seeded, one array."""
    audio = voice.render(UTTERANCE)

    assert audio.dtype == np.int16
    assert audio.ndim == 1
    assert 2.0 < len(audio) / RATE < 5.0
    np.testing.assert_array_equal(audio, voice.render(UTTERANCE, seed=7))
    assert len(voice.render(UTTERANCE, speed=1.5)) < len(audio)
    assert len(voice.render("")) == 0
