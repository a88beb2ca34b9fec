"""Offline speech-to-text benchmark (issue 6): Whisper tiny.en's cost and accuracy per context.

Run from the repository root: ``python -m bench.offline_stt [--repeat N] [--json]``.

Every caller line of the demo restaurant's scenarios (plus a few harder ones) is spoken by the
simulator's caller voice and transcribed two ways by the same loaded model, in this process only:

* **short context** (what tandem runs): the encoder reads the utterance padded to whole seconds
  and at least 15 s (:func:`responder.offline.whisper_stt.context_frames`);
* **30 s window**: faster-whisper's own ``transcribe``, which always encodes a full window.

For each: the time per line (median of ``--repeat`` runs, p50/max over lines) and the word error
rate against the text that was spoken (numbers written as digits count as errors, so the rate is
pessimistic the same way for both).

**Spelled names**: surnames spelled letter by letter ("N, G, U, Y, E, N."), transcribed plain and
primed with :data:`responder.listening.SPELLING_PROMPT` (what tandem does after the agent asked
for a spelling), and read back by :func:`shared.names.spelled_name`: how many come back right;
then weighed against the name said as a word (:func:`shared.names.likely_spelling`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import yaml

from responder.listening import SPELLING_PROMPT
from responder.offline import HibariTTS, WhisperSTT
from responder.pcm import resample
from shared.names import likely_spelling, spelled_name
from simulator.voice import CallerVoice

SPELLED_NAMES = (
    "Nguyen", "Patel", "Okafor", "Dubois", "Rivera", "Kowalczyk", "Siobhan", "Moreau",
    "Lindqvist", "Achebe", "Tanaka", "Fitzgerald", "Oyelaran", "Schmidt", "Bianchi", "Nakamura",
    "Taylor", "Garcia", "Walker", "Murphy", "Fischer", "Reyes", "Novak", "Sinclair",
)  # fmt: skip
"""Surnames to spell (none of them in the prompt): unusual ones, and common ones Whisper may
write as other words ("tailor", "walker")."""
SCENARIOS = Path(__file__).resolve().parent.parent / "profiles" / "restaurant" / "scenarios"
EXTRA_LINES = (
    "I'd like to book a table for six people next Thursday at half past seven please.",
    "My name is Rivera, R I V E R A.",
    "Is there parking nearby?",
    "Okay.",
    "Right.",
)
Transcriber = Callable[[npt.NDArray[np.float32], str], tuple[str, float]]


def scenario_lines() -> list[str]:
    """Every line a scenario's caller says, and the extra ones, without repeats."""
    lines: set[str] = set(EXTRA_LINES)
    for path in sorted(SCENARIOS.glob("*.yaml")):
        for step in yaml.safe_load(path.read_text())["steps"]:
            lines |= {step[k] for k in ("say", "barge_in", "correct", "backchannel") if k in step}
    return sorted(lines)


def word_errors(said: str, heard: str) -> tuple[int, int]:
    """(word-level edit distance, words said)."""
    a, b = (re.findall(r"[a-z0-9']+", text.lower()) for text in (said, heard))
    row = list(range(len(b) + 1))
    for i, word in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, other in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (word != other))
    return row[-1], len(a)


def measure(transcribe: Transcriber, clips: dict[str, Any], repeat: int) -> dict[str, Any]:
    """Per-line median time and the total word error rate of one way of transcribing."""
    times: list[float] = []
    errors = words = 0
    for line, audio in clips.items():
        runs = []
        for _ in range(repeat):
            start = time.perf_counter()
            heard, _confidence = transcribe(audio, "en")
            runs.append(time.perf_counter() - start)
        times.append(statistics.median(runs))
        wrong, count = word_errors(line, heard)
        errors, words = errors + wrong, words + count
    return {
        "p50_ms": round(statistics.median(times) * 1000),
        "max_ms": round(max(times) * 1000),
        "wer": round(errors / words, 3),
        "lines": len(times),
    }


def run(repeat: int) -> dict[str, Any]:
    """Both ways over every line."""
    whisper, voice = WhisperSTT(), CallerVoice(HibariTTS())
    model = whisper.load()
    pad = np.zeros(4_800, dtype=np.float32)  # 0.3 s, as the VAD leaves around an utterance
    clips = {
        line: np.concatenate(
            [pad, resample(voice.render(line), 24_000, 16_000) / 32768.0, pad]
        ).astype(np.float32)
        for line in scenario_lines()
    }
    whisper._transcribe(next(iter(clips.values())), "en")  # warm up
    return {
        "short_context": measure(whisper._transcribe, clips, repeat),
        "window_30s": measure(
            lambda audio, lang: whisper._transcribe_windows(model, audio, lang, None), clips, repeat
        ),
        "spelled_names": spelled_names(whisper, voice),
        "seconds_of_speech": round(sum(len(c) for c in clips.values()) / 16_000, 1),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
    }


def spelled_names(whisper: WhisperSTT, voice: CallerVoice) -> dict[str, Any]:
    """Each of :data:`SPELLED_NAMES` said as a word and spelled; the spelling transcribed plain
    and primed; names read back from the letters alone, and (primed) weighed against the word as
    heard (:func:`shared.names.likely_spelling`, what the demo brain does)."""
    heard: dict[str, list[tuple[str, str | None]]] = {"plain": [], "primed": [], "weighed": []}
    for name in SPELLED_NAMES:
        said, _confidence = whisper._transcribe(_speech(voice, f"{name}."), "en")
        audio = _speech(voice, ", ".join(name.upper()) + ".")
        for way, prompt in (("plain", None), ("primed", SPELLING_PROMPT)):
            text, _confidence = whisper._transcribe(audio, "en", prompt)
            heard[way].append((name, spelled_name(text)))
        letters = heard["primed"][-1][1]
        word = re.sub(r"[^\w' -]", "", said)
        heard["weighed"].append((name, letters and likely_spelling(letters, word)))
    return {
        way: {
            "right": sum(read == name for name, read in pairs),
            "names": len(pairs),
            "read": [read for _name, read in pairs],
        }
        for way, pairs in heard.items()
    }


def _speech(voice: CallerVoice, text: str) -> npt.NDArray[np.float32]:
    """``text`` in the caller voice, at Whisper's 16 kHz, scaled to [-1, 1]."""
    return (resample(voice.render(text), 24_000, 16_000) / 32768.0).astype(np.float32)


def render(result: dict[str, Any]) -> str:
    """A plain-text table."""
    rows = [f"{'':15} {'p50':>7} {'max':>7} {'WER':>6}"]
    for name in ("short_context", "window_30s"):
        r = result[name]
        rows.append(f"{name:15} {r['p50_ms']:>5}ms {r['max_ms']:>5}ms {r['wer']:>6.3f}")
    for way, r in result["spelled_names"].items():
        rows.append(f"spelled names, {way}: {r['right']}/{r['names']} read back right")
    machine = result["machine"]
    rows.append(
        f"{result['short_context']['lines']} lines, {result['seconds_of_speech']} s of speech; "
        f"{machine['cpus']} CPUs, {machine['platform']}, Python {machine['python']}"
    )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print."""
    parser = argparse.ArgumentParser(description="Whisper tiny.en: short context vs 30 s window.")
    parser.add_argument("--repeat", type=int, default=3, help="runs per line (median kept)")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = parser.parse_args(argv)
    result = run(args.repeat)
    print(json.dumps(result) if args.json else render(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
