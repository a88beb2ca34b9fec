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
from livekit.agents import LanguageCode, stt, tts, vad
from livekit.plugins import silero

from responder.offline import HibariTTS, SpeculativeSTT, WhisperSTT
from responder.offline.whisper_stt import (
    MIN_CONTEXT_FRAMES,
    WINDOW_FRAMES,
    context_frames,
    max_tokens,
)
from responder.pcm import Int16Array, resample

RATE = 24_000
LANG = LanguageCode("en")
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


@pytest.mark.parametrize("line", ["Okay.", "Right.", "Hi.", "Thank you."])
async def test_a_short_line_is_heard_once(whisper: WhisperSTT, voice: HibariTTS, line: str) -> None:
    """The encoder reads a short context, not Whisper's 30 s window; too short a context makes
    tiny.en repeat a one-word line ("Okay. Okay. Okay.")."""
    samples = np.concatenate([silence(0.2), voice.render(line), silence(0.3)])
    assert words(await transcript(whisper, frames_of(samples))) == words(line)


def test_the_encoder_context_covers_the_speech_in_whole_seconds() -> None:
    assert context_frames(80) == MIN_CONTEXT_FRAMES  # a one-word line: the least context
    assert context_frames(2_000) == 2_100  # 20 s of speech, half a second of margin, rounded up
    assert context_frames(2_999) == WINDOW_FRAMES  # never more than the window
    assert max_tokens(300) > len(["I", "would", "like", "a", "table", "for", "four"]) * 2


async def test_a_vad_cut_utterance_becomes_one_final_transcript(
    whisper: WhisperSTT, silero_vad: vad.VAD, utterance: Int16Array
) -> None:
    """What the session does with a non-streaming STT: silero cuts, Whisper transcribes."""
    adapter = SpeculativeSTT(stt=whisper, vad=silero_vad)
    audio = np.concatenate([silence(0.5), utterance, silence(1.5)])
    events = await stream_through(adapter, audio)
    await adapter.aclose()

    assert [event.type for event in events] == [
        stt.SpeechEventType.START_OF_SPEECH,
        stt.SpeechEventType.END_OF_SPEECH,
        stt.SpeechEventType.FINAL_TRANSCRIPT,
    ]
    heard = words(events[-1].alternatives[0].text)
    assert {"table", "friday"} <= heard


class DurationSTT(stt.STT[Any]):
    """A non-streaming STT that "hears" how long its audio is, and logs each request."""

    def __init__(self, log: list[str]) -> None:
        super().__init__(capabilities=stt.STTCapabilities(streaming=False, interim_results=False))
        self.log = log

    async def _recognize_impl(self, buffer: Any, **_: Any) -> stt.SpeechEvent:
        seconds = len(pcm_of(buffer if isinstance(buffer, list) else [buffer])) / RATE
        self.log.append(f"recognize {seconds:.2f}")
        heard = stt.SpeechData(language=LanguageCode("en"), text=f"{seconds:.2f}")
        return stt.SpeechEvent(type=stt.SpeechEventType.FINAL_TRANSCRIPT, alternatives=[heard])


def voiced(samples: Int16Array) -> Int16Array:
    """``samples`` from the first to the last audible sample."""
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > 300)
    return samples[loud[0] : loud[-1] + 1]


async def stream_through(
    adapter: stt.STT[Any], audio: Int16Array, log: list[str] | None = None
) -> list[stt.SpeechEvent]:
    """Every event of one stream of ``audio`` (its types appended to ``log`` as they come)."""
    async with adapter.stream() as stream:
        for frame in frames_of(audio):
            stream.push_frame(frame)
        stream.end_input()
        events = []
        async for event in stream:
            events.append(event)
            if log is not None:
                log.append(event.type.name)
    return events


async def test_the_transcript_starts_in_the_pause_before_the_end_of_speech(
    silero_vad: vad.VAD, utterance: Int16Array
) -> None:
    """The VAD waits out its end-of-speech silence; the transcript is already on its way."""
    log: list[str] = []
    vad_03 = silero.VAD.load(min_silence_duration=0.3)
    adapter = SpeculativeSTT(stt=DurationSTT(log), vad=vad_03, speculate_after_s=0.1)

    spoken = voiced(utterance)

    events = await stream_through(adapter, np.concatenate([spoken, silence(1.0)]), log)

    [requested] = [line for line in log if line.startswith("recognize")]
    assert log.index(requested) < log.index("END_OF_SPEECH")
    assert events[-1].alternatives[0].text == requested.removeprefix("recognize ")
    assert float(events[-1].alternatives[0].text) >= len(spoken) / RATE  # all of the speech


async def test_a_guess_made_in_a_mid_sentence_pause_is_dropped(utterance: Int16Array) -> None:
    """A pause longer than the guess's wait but shorter than the VAD's silence: the caller goes
    on, so the transcript is of the whole utterance, never of its first half."""
    log: list[str] = []
    vad_05 = silero.VAD.load(min_silence_duration=0.5)
    adapter = SpeculativeSTT(stt=DurationSTT(log), vad=vad_05, speculate_after_s=0.1)
    spoken = voiced(utterance)
    audio = np.concatenate([spoken, silence(0.3), spoken, silence(1.0)])

    events = await stream_through(adapter, audio, log)

    assert [e.type for e in events].count(stt.SpeechEventType.FINAL_TRANSCRIPT) == 1
    requests = [float(line.split()[1]) for line in log if line.startswith("recognize")]
    assert len(requests) == 2  # the dropped guess, then the one that stood
    assert requests[0] < len(spoken) / RATE + 0.3  # the first sentence, cut in its pause
    assert requests[1] >= 2 * len(spoken) / RATE + 0.3  # both
    assert float(events[-1].alternatives[0].text) == requests[1]


async def test_a_transcript_says_where_its_speech_was_in_the_stream(utterance: Int16Array) -> None:
    """Its start and end in seconds of the stream, the silence that ended it left out: how long
    the caller spoke (responder.backchannel weighs it)."""
    adapter = SpeculativeSTT(stt=DurationSTT([]), vad=silero.VAD.load(min_silence_duration=0.3))
    spoken = voiced(utterance)
    events = await stream_through(adapter, np.concatenate([silence(1.0), spoken, silence(1.0)]))

    heard = events[-1].alternatives[0]
    assert heard.start_time == pytest.approx(1.0, abs=0.2)
    assert heard.end_time - heard.start_time == pytest.approx(len(spoken) / RATE, abs=0.25)


@pytest.mark.parametrize(
    ("line", "backchannel"),
    [("Mm-hm.", True), ("Hmm.", True), ("Wait!", False), ("Do you have parking?", False)],
)
async def test_whisper_is_unsure_of_the_words_it_makes_of_murmurs(
    whisper: WhisperSTT, silero_vad: vad.VAD, voice: HibariTTS, line: str, backchannel: bool
) -> None:
    """In the simulator's caller voice "mm-hm" comes back as "Mama" and "hmm" as "Who?", with
    a confidence well under that of words heard ("Wait."): enough to tell them apart."""
    from responder.agent import judge_overlap
    from simulator.voice import CallerVoice

    said = voiced(CallerVoice(voice).render(line))
    adapter = SpeculativeSTT(stt=whisper, vad=silero_vad)
    events = await stream_through(adapter, np.concatenate([silence(0.5), said, silence(1.0)]))

    finals = [e for e in events if e.type is stt.SpeechEventType.FINAL_TRANSCRIPT]
    # a murmur Whisper (or the VAD) made nothing of is no words: the agent goes on
    heard = finals[-1].alternatives[0] if finals else stt.SpeechData(language=LANG, text="")
    assert judge_overlap(heard).backchannel is backchannel, (heard.text, heard.confidence)


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


@pytest.mark.parametrize("name", ["Nguyen", "Dubois", "Siobhan"])
async def test_whisper_primed_after_a_spelling_request_hears_the_letters_of_a_spelled_name(
    whisper: WhisperSTT, voice: HibariTTS, name: str
) -> None:
    """Unprimed, tiny.en runs spelled letters into words ("UBOIS.", "SIOBHAN."); primed as
    tandem primes it after asking for a spelling, the letters come back and read as the name."""
    from responder.listening import SPELLING_PROMPT
    from shared.names import spelled_name
    from simulator.voice import CallerVoice

    said = frames_of(CallerVoice(voice).render(", ".join(name.upper()) + "."))
    prompts: list[str | None] = []

    def prompt() -> str | None:
        prompts.append(SPELLING_PROMPT)
        return SPELLING_PROMPT

    event = await whisper.primed(prompt).recognize(said)

    assert prompts == [SPELLING_PROMPT]  # asked as the utterance is transcribed
    assert spelled_name(event.alternatives[0].text) == name, event.alternatives[0].text
