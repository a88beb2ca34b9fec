"""A simulated telephone line: audio squeezed through 8 kHz G.711 μ-law and a jitter buffer.

``tandem eval --phone`` plays calls "over the phone": the caller's audio goes down to 8 kHz,
through the μ-law codec and back up to the session's rate, arriving in 20 ms packets that a
jitter buffer sometimes waits for; the agent's audio goes through the same codec before it is
recorded. Everything here is numpy, deterministic given a seed.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

from responder.pcm import Int16Array

UInt8Array: TypeAlias = npt.NDArray[np.uint8]

PHONE_RATE = 8_000
"""G.711's sample rate."""
PACKET_S = 0.02
"""The audio in one packet (RTP's usual 20 ms for G.711)."""
MAX_JITTER_S = 0.04
"""Most a packet is late: each one arrives 0 to this much after its time."""

_BIAS = 0x84
_CLIP = 32635
# the segment (exponent) of a biased magnitude, indexed by its bits 7..14
_EXPONENT = np.array([max(0, int(i).bit_length() - 1) for i in range(256)], dtype=np.int32)


def mulaw_encode(pcm16: npt.ArrayLike) -> UInt8Array:
    """ITU-T G.711 μ-law codes of int16 samples (bias 0x84, magnitudes clipped at 32635)."""
    pcm = np.asarray(pcm16, dtype=np.int32)
    sign = np.where(pcm < 0, 0x80, 0)
    magnitude = np.minimum(np.abs(pcm), _CLIP) + _BIAS
    exponent = _EXPONENT[(magnitude >> 7) & 0xFF]
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    code: npt.NDArray[Any] = ~(sign | (exponent << 4) | mantissa) & 0xFF
    return code.astype(np.uint8)


def mulaw_decode(codes: npt.ArrayLike) -> Int16Array:
    """The int16 samples G.711 μ-law ``codes`` stand for (each the middle of its step)."""
    code = ~np.asarray(codes, dtype=np.int32) & 0xFF
    exponent = (code >> 4) & 0x07
    mantissa = code & 0x0F
    magnitude = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    pcm: npt.NDArray[Any] = np.where(code & 0x80, -magnitude, magnitude)
    return pcm.astype(np.int16)


def lowpass_taps(rate: int, cutoff: float, taps: int = 121) -> npt.NDArray[np.float64]:
    """A windowed-sinc (Blackman) low-pass FIR at ``rate`` Hz, unity gain at DC."""
    n = np.arange(taps) - (taps - 1) / 2
    h = np.sinc(2 * cutoff / rate * n) * np.blackman(taps)
    result: npt.NDArray[np.float64] = h / h.sum()
    return result


def _filter(signal: npt.NDArray[np.float64], taps: npt.NDArray[np.float64]) -> Any:
    """``signal`` through the linear-phase FIR ``taps``, delay compensated, same length."""
    return np.convolve(signal, taps, mode="same")


def downsample(pcm: Int16Array, rate: int, factor: int) -> npt.NDArray[np.float64]:
    """``pcm`` at ``rate`` Hz low-passed below the new Nyquist, then every ``factor``-th sample
    (``ceil(len / factor)`` samples at ``rate / factor``)."""
    taps = lowpass_taps(rate, 0.45 * rate / factor)
    low: npt.NDArray[np.float64] = _filter(pcm.astype(np.float64), taps)[::factor]
    return low


def upsample(
    signal: npt.NDArray[np.float64], rate: int, factor: int, length: int
) -> npt.NDArray[np.float64]:
    """``signal`` at ``rate`` Hz to ``rate * factor``: zeros stuffed between samples, then the
    images above the old Nyquist filtered out; ``length`` samples."""
    stuffed = np.zeros(len(signal) * factor)
    stuffed[::factor] = signal
    taps = lowpass_taps(rate * factor, 0.45 * rate) * factor
    high: npt.NDArray[np.float64] = _filter(stuffed, taps)[:length]
    return np.pad(high, (0, length - len(high)))


def _to_pcm(signal: npt.NDArray[np.float64]) -> Int16Array:
    return np.clip(np.round(signal), -32768, 32767).astype(np.int16)


class PhoneLine:
    """A phone line between a caller and the agent, for audio at ``sample_rate`` (a multiple of
    8 kHz).

    :meth:`codec` is what the line does to the sound: down to 8 kHz, μ-law and back.
    :meth:`carry` adds the network: the audio goes in 20 ms packets, each late by a random 0 to
    ``max_jitter_s``, and a jitter buffer that keeps their order plays each one at its time or,
    if it is late, as soon as it arrives, waiting in silence; once it has waited it stays that
    far behind. The jitter is drawn from a generator seeded with ``seed``, so the same audio in
    the same order comes out the same.
    """

    def __init__(
        self, *, sample_rate: int = 24_000, max_jitter_s: float = MAX_JITTER_S, seed: int = 0
    ) -> None:
        if sample_rate % PHONE_RATE:
            raise ValueError(f"{sample_rate} Hz is not a multiple of {PHONE_RATE} Hz")
        self.sample_rate = sample_rate
        self.max_jitter_s = max_jitter_s
        self._factor = sample_rate // PHONE_RATE
        self._packet = round(PACKET_S * sample_rate)
        self._rng = np.random.default_rng(seed)

    def codec(self, pcm: Int16Array) -> Int16Array:
        """``pcm`` as it sounds after the line: 8 kHz G.711 μ-law, back at the line's rate
        (same length)."""
        if len(pcm) == 0:
            return pcm.copy()
        narrow = _to_pcm(downsample(pcm, self.sample_rate, self._factor))
        decoded = mulaw_decode(mulaw_encode(narrow)).astype(np.float64)
        return _to_pcm(upsample(decoded, PHONE_RATE, self._factor, len(pcm)))

    def delays(self, packets: int) -> npt.NDArray[np.int64]:
        """How late each of ``packets`` packets arrives, in samples (draws from the line's
        generator)."""
        late = self._rng.uniform(0.0, self.max_jitter_s, packets) * self.sample_rate
        return np.round(late).astype(np.int64)

    def carry(self, pcm: Int16Array) -> Int16Array:
        """``pcm`` through the line as the far end plays it: :meth:`codec`'d, in packets with
        the silence the jitter buffer waited in between them (at most ``max_jitter_s`` in all)."""
        sound = self.codec(pcm)
        packets = [sound[i : i + self._packet] for i in range(0, len(sound), self._packet)]
        out: list[Int16Array] = []
        behind = 0  # how far the buffer is behind the sender, in samples
        for packet, late in zip(packets, self.delays(len(packets)), strict=True):
            if late > behind:
                out.append(np.zeros(int(late) - behind, dtype=np.int16))
                behind = int(late)
            out.append(packet)
        return np.concatenate(out) if out else sound


def line_name(phone: bool) -> str:
    """How reports label a call's line: ``"phone"`` over a :class:`PhoneLine`, else
    ``"wideband"`` (the session's own 24 kHz)."""
    return "phone" if phone else "wideband"
