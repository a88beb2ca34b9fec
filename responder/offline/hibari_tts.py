"""Offline text-to-speech: the hibari-tts voice "heart" (American English), bundled in its wheel.

Hibari synthesizes one sentence at a time, about 100x faster than real time on one core.
:class:`HibariTTS` declares ``streaming=False``; an ``AgentSession`` wraps it in
``tts.StreamAdapter`` with a sentence tokenizer by itself, so the model's reply is spoken sentence
by sentence as it arrives. A text of several sentences given to :meth:`HibariTTS.synthesize` is
also streamed: each sentence's audio goes out as soon as it is synthesized, in a worker thread,
and an interruption stops synthesis at the next sentence boundary.

For scripts and the caller simulator, :meth:`HibariTTS.render` returns the whole text as one
int16 array, synchronously.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
from livekit.agents import tts, utils
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, APIConnectOptions

from responder.offline._extra import import_demo_module, require_demo_extra
from responder.pcm import Int16Array, to_int16

if TYPE_CHECKING:
    from hibari import Hibari

SAMPLE_RATE = 24_000
"""Hibari's output rate (mono)."""
VOICE = "heart"
"""The one hibari voice that ships in the package; the others download on first use."""
PURPOSE = "the offline voice (hibari)"
"""What needs hibari-tts, in the missing-extra message."""


class HibariTTS(tts.TTS[Any]):
    """The offline voice as a livekit TTS: 24 kHz mono PCM16, one sentence at a time.

    ``speed`` is the speaking rate (1.0 is the voice's natural pace, 0.5 slow to 2.0 fast);
    ``seed`` fixes the noise component so a text always sounds the same (``None`` varies it);
    ``threads`` is the number of onnxruntime threads. The model loads on first use, or earlier
    with :meth:`load` (the session's :meth:`prewarm` starts loading it in the background).
    Without the ``demo`` extra (hibari-tts) it raises :class:`~shared.errors.ConfigError`.
    """

    def __init__(self, *, speed: float = 1.0, seed: int | None = 7, threads: int = 1) -> None:
        require_demo_extra(PURPOSE, ("hibari",))
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=False),
            sample_rate=SAMPLE_RATE,
            num_channels=1,
        )
        self._speed = speed
        self._seed = seed
        self._threads = threads
        self._engine: Hibari | None = None
        # Hibari shares lazily built state (G2P, out-of-vocabulary model) across calls: one
        # sentence is synthesized at a time, and concurrent syntheses take turns per sentence.
        self._lock = threading.Lock()

    @property
    def model(self) -> str:
        """The voice: ``hibari-heart``."""
        return f"hibari-{VOICE}"

    @property
    def provider(self) -> str:
        """Always ``hibari``."""
        return "hibari"

    def load(self) -> Hibari:
        """Load the voice if it is not loaded yet and return the ``hibari.Hibari`` engine.

        Blocking (a few hundred milliseconds), thread-safe and idempotent: call it from a worker
        thread or at start-up, e.g. while showing a progress bar.
        """
        hibari = import_demo_module("hibari", PURPOSE)
        with self._lock:
            if self._engine is None:
                self._engine = hibari.Hibari(voice=VOICE, threads=self._threads)
            return self._engine

    def prewarm(self) -> None:
        """Start loading the voice in a background thread; returns at once.

        The session calls this on its event loop when it starts.
        """
        if self._engine is None:
            threading.Thread(target=self.load, name="hibari-load").start()

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> tts.ChunkedStream:
        """Speak ``text``; the stream yields each sentence's audio as soon as it is ready."""
        return _HibariStream(tts=self, input_text=text, conn_options=conn_options)

    def render(
        self, text: str, *, speed: float | None = None, seed: int | None = None
    ) -> Int16Array:
        """The whole of ``text`` as int16 mono samples at 24 kHz, synchronously (blocking).

        ``speed`` and ``seed`` default to this instance's options. Empty text gives no samples.
        """
        parts = list(self.sentences(text, speed=speed, seed=seed))
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)

    def sentences(
        self, text: str, *, speed: float | None = None, seed: int | None = None
    ) -> Iterator[Int16Array]:
        """Each sentence of ``text`` as int16 mono samples at 24 kHz, synthesized on demand.

        Blocking: advance it in a worker thread from async code. ``speed`` and ``seed`` default
        to this instance's options.
        """
        engine = self.load()
        chunks = engine.stream(
            text,
            speed=self._speed if speed is None else speed,
            seed=self._seed if seed is None else seed,
        )
        while True:
            with self._lock:
                chunk = next(chunks, None)
            if chunk is None:
                return
            yield to_int16(chunk)


class _HibariStream(tts.ChunkedStream):
    """One synthesis: sentences are made in a worker thread and pushed one by one."""

    def __init__(self, *, tts: HibariTTS, input_text: str, conn_options: APIConnectOptions) -> None:
        super().__init__(tts=tts, input_text=input_text, conn_options=conn_options)
        self._hibari = tts

    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        output_emitter.initialize(
            request_id=utils.shortuuid(),
            sample_rate=SAMPLE_RATE,
            num_channels=1,
            mime_type="audio/pcm",
        )
        sentences = self._hibari.sentences(self.input_text)
        samples = 0
        # The emitter sends each sentence on as it is pushed (and releases the audio it holds back
        # by itself if the next sentence is late). Cancelling this task abandons the generator:
        # the sentence being synthesized finishes in its thread and is dropped, no other starts.
        while (pcm := await asyncio.to_thread(next, sentences, None)) is not None:
            output_emitter.push(pcm.tobytes())
            samples += len(pcm)
        if not samples:
            # Nothing speakable ("*", an emoji): a moment of silence. The base class would take a
            # text without audio for a failed request, retry it and count it against the session.
            output_emitter.push(bytes(2 * SAMPLE_RATE // 100))
