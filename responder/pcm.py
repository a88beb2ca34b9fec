"""Mono PCM16 helpers shared by the responder's speech plugins (offline STT and TTS)."""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
from livekit import rtc

Int16Array: TypeAlias = npt.NDArray[np.int16]
AudioSamples: TypeAlias = npt.NDArray[np.int16] | npt.NDArray[np.floating[Any]]
"""Mono audio: int16 PCM, or float in [-1, 1] (clipped)."""


def to_int16(samples: AudioSamples) -> Int16Array:
    """Mono samples as int16 PCM; floats are taken as [-1, 1] and clipped."""
    array: npt.NDArray[Any] = np.asarray(samples)
    if array.ndim != 1:
        raise ValueError(f"expected mono (1-D) samples, got shape {array.shape}")
    if array.dtype == np.int16:
        return array.astype(np.int16, copy=False)
    if np.issubdtype(array.dtype, np.floating):
        scaled: npt.NDArray[np.float64] = np.round(np.clip(array, -1.0, 1.0) * 32767.0)
        return scaled.astype(np.int16)
    raise TypeError(f"expected int16 or float samples, got {array.dtype}")


def resample(samples: Int16Array, from_rate: int, to_rate: int) -> Int16Array:
    """Resample mono PCM16 in one go (livekit's soxr resampler); the length scales exactly."""
    if from_rate == to_rate or len(samples) == 0:
        return samples
    resampler = rtc.AudioResampler(
        input_rate=from_rate,
        output_rate=to_rate,
        num_channels=1,
        quality=rtc.AudioResamplerQuality.HIGH,
    )
    frame = rtc.AudioFrame(samples.tobytes(), from_rate, 1, len(samples))
    frames = resampler.push(frame) + resampler.flush()
    out = np.concatenate([np.frombuffer(f.data, dtype=np.int16) for f in frames] or [samples[:0]])
    want = round(len(samples) * to_rate / from_rate)
    if len(out) < want:
        out = np.concatenate([out, np.zeros(want - len(out), dtype=np.int16)])
    return out[:want]
