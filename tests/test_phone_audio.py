"""The simulated phone line (``tandem eval --phone``): the G.711 μ-law codec, the 24 kHz <-> 8 kHz
resampling, the jittered packets, and one whole call played over the line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from responder.offline import HibariTTS
from responder.pcm import Int16Array
from shared.config import ResponderSettings, Settings
from shared.profile import find_profile
from simulator.audio_io import CallerAudioInput
from simulator.evaluate import scenario_row, targets, write_report
from simulator.phone import PhoneLine, mulaw_decode, mulaw_encode
from simulator.run import run_call, run_directory
from simulator.scenario import load_scenario
from simulator.stack import open_stack
from simulator.voice import CallerVoice

RATE = 24_000


def tone(hz: float, seconds: float = 1.0, amplitude: float = 10_000) -> Int16Array:
    t = np.arange(round(RATE * seconds)) / RATE
    return np.round(amplitude * np.sin(2 * np.pi * hz * t)).astype(np.int16)


def energy(pcm: Int16Array) -> float:
    middle = pcm[2400:-2400].astype(np.float64)  # away from the filters' edges
    return float(np.sum(middle**2))


# -- G.711 μ-law ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sample", "code"),
    [
        (0, 0xFF),
        (-1, 0x7F),
        (1, 0xFF),
        (8, 0xFE),
        (-8, 0x7E),
        (32767, 0x80),
        (-32768, 0x00),
        (32635, 0x80),
        (1000, 0xCE),
        (-1000, 0x4E),
    ],
)
def test_mulaw_encodes_the_itu_reference_codes(sample: int, code: int) -> None:
    assert int(mulaw_encode(np.array([sample], dtype=np.int16))[0]) == code


@pytest.mark.parametrize(
    ("code", "sample"),
    [(0xFF, 0), (0x7F, 0), (0xFE, 8), (0x80, 32124), (0x00, -32124), (0xCE, 988), (0x4E, -988)],
)
def test_mulaw_decodes_each_code_to_the_middle_of_its_step(code: int, sample: int) -> None:
    assert int(mulaw_decode(np.array([code], dtype=np.uint8))[0]) == sample


def test_every_code_decodes_to_a_value_that_encodes_back_to_it() -> None:
    codes = np.arange(256, dtype=np.uint8)
    again = mulaw_encode(mulaw_decode(codes))
    # 0x7F is "negative zero": it decodes to 0, which is 0xFF
    assert np.array_equal(again[codes != 0x7F], codes[codes != 0x7F])
    assert mulaw_decode(codes).dtype == np.int16


@given(st.lists(st.integers(-32768, 32767), min_size=1, max_size=200))
def test_the_round_trip_error_is_at_most_half_a_step(samples: list[int]) -> None:
    pcm = np.array(samples, dtype=np.int16)
    back = mulaw_decode(mulaw_encode(pcm)).astype(np.int64)
    clipped = np.clip(pcm.astype(np.int64), -32635, 32635)
    # a step is 1/16 of its segment, which starts at (|x| + 0x84) / 2: half a step <= that / 32
    assert np.all(np.abs(back - clipped) <= (np.abs(clipped) + 0x84) / 32)


# -- 24 kHz <-> 8 kHz -----------------------------------------------------------------------------


def test_the_line_keeps_a_1_khz_tone_and_removes_a_6_khz_one() -> None:
    line = PhoneLine()
    speech_band = tone(1000)
    assert energy(line.codec(speech_band)) == pytest.approx(energy(speech_band), rel=0.02)
    above_the_band = tone(6000)
    assert energy(line.codec(above_the_band)) < 1e-3 * energy(above_the_band)


def test_a_tone_above_8_khz_nyquist_does_not_fold_back_into_the_band() -> None:
    out = PhoneLine().codec(tone(5000)).astype(np.float64)[2400:-2400]
    spectrum = np.abs(np.fft.rfft(out))
    freqs = np.fft.rfftfreq(len(out), 1 / RATE)
    alias = spectrum[(freqs > 2900) & (freqs < 3100)].max()  # 5 kHz would fold to 3 kHz
    assert alias < 1e-3 * np.abs(np.fft.rfft(tone(5000).astype(np.float64))).max()


def test_the_codec_keeps_the_length_and_the_timing() -> None:
    click = np.zeros(RATE // 2, dtype=np.int16)
    click[6000:6048] = tone(1000, 0.002)
    out = PhoneLine().codec(click)
    assert len(out) == len(click)
    assert out.dtype == np.int16
    assert abs(int(np.argmax(np.abs(out))) - 6024) < 24  # no shift: linear-phase filters


# -- the jittered line ----------------------------------------------------------------------------


def numbered_packets(count: int) -> Int16Array:
    """``count`` 20 ms packets of a 1 kHz tone whose loudness numbers them (1000, 2000, ...)."""
    return np.concatenate([tone(1000, 0.02, 1000 * (i + 1)) for i in range(count)])


def test_the_line_delivers_every_packet_in_order_at_most_40_ms_late() -> None:
    sent = numbered_packets(20)
    heard = PhoneLine(seed=3).carry(sent)
    assert len(sent) <= len(heard) <= len(sent) + round(0.04 * RATE)
    sound = np.abs(heard.astype(np.int64)) > 50
    # gaps are whole silences between packets: take the sound back out and it is the codec's
    assert np.array_equal(
        heard[sound], PhoneLine().codec(sent)[np.abs(PhoneLine().codec(sent)) > 50]
    )
    peaks = [int(np.abs(heard[i : i + 480]).max()) for i in range(0, len(heard) - 480, 480)]
    levels = [round(p / 1000) for p in peaks if p > 500]
    assert levels == sorted(levels)  # the numbered packets come out in their order
    assert set(levels) == set(range(1, 21))  # and every one of them


def test_the_same_seed_gives_the_same_jitter_and_another_seed_other_jitter() -> None:
    sent = numbered_packets(50)
    first = PhoneLine(seed=7).carry(sent)
    assert np.array_equal(first, PhoneLine(seed=7).carry(sent))
    assert not np.array_equal(first, PhoneLine(seed=8).carry(sent))


def test_without_jitter_the_line_only_changes_the_sound() -> None:
    sent = numbered_packets(10)
    assert np.array_equal(PhoneLine(max_jitter_s=0).carry(sent), PhoneLine().codec(sent))


def test_the_caller_input_queues_what_the_line_delivers() -> None:
    line = PhoneLine(seed=1)
    mic = CallerAudioInput(line=PhoneLine(seed=1).carry)
    utterance = mic.play(numbered_packets(5))
    assert np.array_equal(utterance.samples, line.carry(numbered_packets(5)))


def test_a_rate_that_is_not_a_multiple_of_8_khz_is_refused() -> None:
    with pytest.raises(ValueError, match="8000"):
        PhoneLine(sample_rate=22_050)


# -- a whole call over the line -------------------------------------------------------------------


@pytest.mark.timeout(180)
async def test_a_call_over_the_phone_is_labelled_and_the_caller_is_still_understood(
    tmp_path: Path,
) -> None:
    settings = Settings(_env_file=None, responder=ResponderSettings(_env_file=None, mode="offline"))
    profile = find_profile("restaurant")
    scenario = load_scenario(profile.scenarios_dir / "direct-question.yaml")
    async with open_stack(settings, profile, lambda _step: None) as stack:
        assert stack.models.offline is not None
        assert isinstance(stack.models.offline.tts, HibariTTS)
        voice = CallerVoice(stack.models.offline.tts)
        result = await run_call(
            stack, scenario, voice, run_directory(tmp_path, scenario), phone=PhoneLine(seed=1)
        )
    assert result.error is None
    assert result.passed, result.checks
    metrics = json.loads((result.directory / "metrics.json").read_text())
    assert metrics["line"] == "phone"
    events = [
        json.loads(line) for line in (result.directory / "events.jsonl").read_text().splitlines()
    ]
    heard = [
        e["data"]["transcript"].lower()
        for e in events
        if e["event"] == "user_input_transcribed" and e["data"].get("is_final")
    ]
    assert any("how are you" in text for text in heard), heard
    row = scenario_row(scenario.name, [result])
    assert row["line"] == "phone"
    assert any(", phone line: p50" in t.name for t in targets([row]))
    report = write_report(tmp_path / "eval", [row], targets([row]), machine="test").read_text()
    assert "| direct-question | phone |" in report
    assert "## Targets (phone line)" in report
