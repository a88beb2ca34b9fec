"""The simulated caller's voice: the offline hibari voice, pitched down so the caller is easy to
tell from the agent on the recording (hibari ships one voice; the other offline voice, piper's,
is GPL-licensed and kept out of this Apache-2.0 project).

Sentences of one line are joined with a short, even pause (``gap_ms``), as a caller says them
in one breath; the TTS's own longer pause between sentences would read as the end of the turn.
"""

from __future__ import annotations

import functools

import numpy as np

from responder.offline import HibariTTS
from responder.pcm import Int16Array, resample

SAMPLE_RATE = 24_000
_SILENCE = 200
"""Samples quieter than this (of 32767) at a sentence's edges are trimmed."""


class CallerVoice:
    """Renders caller lines: hibari synthesized faster, then slowed back down, which lowers the
    pitch by ``pitch`` (0.82: about three semitones) at the same speaking rate."""

    def __init__(
        self, tts: HibariTTS, *, pitch: float = 0.82, seed: int = 11, gap_ms: int = 250
    ) -> None:
        if not 0.5 <= pitch <= 2.0:
            raise ValueError(f"pitch {pitch} is outside 0.5-2.0")
        self._tts = tts
        self._pitch = pitch
        self._seed = seed
        self._gap = np.zeros(round(SAMPLE_RATE * gap_ms / 1000), dtype=np.int16)
        self.render = functools.lru_cache(maxsize=256)(self._render)
        """``render(text)``: int16 mono samples at 24 kHz (cached: scenarios repeat lines)."""

    def _render(self, text: str) -> Int16Array:
        sentences = [
            _trim(resample(part, round(SAMPLE_RATE * self._pitch), SAMPLE_RATE))
            for part in self._tts.sentences(text, speed=1.0 / self._pitch, seed=self._seed)
        ]
        joined: list[Int16Array] = []
        for sentence in sentences:
            joined += [self._gap, sentence] if joined else [sentence]
        return np.concatenate(joined) if joined else np.zeros(0, dtype=np.int16)


def _trim(samples: Int16Array) -> Int16Array:
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > _SILENCE)
    return samples[loud[0] : loud[-1] + 1] if len(loud) else samples[:0]
