"""PCM16 24 kHz mono helpers: the tone the fake speaks, and the energy VAD it listens with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

SAMPLE_RATE = 24_000
BYTES_PER_MS = SAMPLE_RATE * 2 // 1000  # PCM16 mono


def pcm_ms(data: bytes | int) -> float:
    """Duration in milliseconds of PCM16 24 kHz mono ``data`` (or a byte count)."""
    size = data if isinstance(data, int) else len(data)
    return size / BYTES_PER_MS


def tone(duration_ms: float, *, frequency_hz: float = 220.0, amplitude: float = 0.3) -> bytes:
    """A sine tone as PCM16 24 kHz mono: clearly not silence (RMS ~ 0.21 of full scale)."""
    samples = round(duration_ms * SAMPLE_RATE / 1000)
    t = np.arange(samples, dtype=np.float64) / SAMPLE_RATE
    wave = amplitude * np.sin(2 * np.pi * frequency_hz * t)
    return (wave * 32767).astype("<i2").tobytes()


def silence(duration_ms: float) -> bytes:
    """Digital silence as PCM16 24 kHz mono."""
    return bytes(2 * round(duration_ms * SAMPLE_RATE / 1000))


def rms(pcm: bytes) -> float:
    """Root mean square of PCM16 samples, on the int16 scale (0..32767)."""
    if len(pcm) < 2:
        return 0.0
    samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float64)
    return float(np.sqrt(np.mean(samples * samples)))


@dataclass(frozen=True)
class VadEvent:
    """Speech started (``audio_ms`` = start, minus the prefix padding) or stopped."""

    kind: Literal["started", "stopped"]
    audio_ms: int


class EnergyVad:
    """A frame-energy VAD on the audio timeline (not the wall clock).

    Speech starts on the first ``frame_ms`` frame whose RMS exceeds ``threshold``; it stops once
    ``silence_ms`` of audio in a row stays below it. Positions count milliseconds of audio
    appended since the connection opened, like the real API's ``audio_start_ms``.
    """

    def __init__(
        self,
        *,
        threshold: float,
        silence_ms: int,
        prefix_padding_ms: int,
        frame_ms: int = 10,
    ) -> None:
        self.threshold = threshold
        self.silence_ms = silence_ms
        self.prefix_padding_ms = prefix_padding_ms
        self._frame_bytes = frame_ms * BYTES_PER_MS
        self._frame_ms = frame_ms
        self._pending = b""
        self._position_ms = 0
        self._speaking = False
        self._silent_ms = 0

    @property
    def speaking(self) -> bool:
        """Whether a speech segment is open."""
        return self._speaking

    @property
    def position_ms(self) -> int:
        """Milliseconds of audio analysed so far."""
        return self._position_ms

    def reset(self) -> None:
        """Forget an open speech segment (the buffer was committed or cleared)."""
        self._speaking = False
        self._silent_ms = 0

    def feed(self, pcm: bytes) -> list[VadEvent]:
        """Analyse ``pcm``; return the speech boundaries it crossed."""
        events: list[VadEvent] = []
        data = self._pending + pcm
        offset = 0
        while len(data) - offset >= self._frame_bytes:
            frame = data[offset : offset + self._frame_bytes]
            offset += self._frame_bytes
            loud = rms(frame) > self.threshold
            if not self._speaking and loud:
                self._speaking = True
                self._silent_ms = 0
                start = max(0, self._position_ms - self.prefix_padding_ms)
                events.append(VadEvent("started", start))
            elif self._speaking:
                self._silent_ms = 0 if loud else self._silent_ms + self._frame_ms
                if self._silent_ms >= self.silence_ms:
                    self._speaking = False
                    self._silent_ms = 0
                    events.append(VadEvent("stopped", self._position_ms + self._frame_ms))
            self._position_ms += self._frame_ms
        self._pending = data[offset:]
        return events
