"""Backchannels and barge-ins benchmark (issue 14): does the agent go on through "mm-hm" and stop
for "wait", and how fast does it stop?

Run from the repository root: ``python -m bench.interruptions [--only KIND] [--limit N] [--json]``.

A labelled set of overlaps (``bench/data/overlaps.yaml``: backchannels and real barge-ins) is
spoken, one per call, over a long agent answer. Each call is the production offline call, put
together by :func:`responder.assembly.assemble_call` on room-less real-time audio (the
simulator's :class:`~simulator.audio_io.CallerAudioInput` and
:class:`~simulator.audio_io.CapturingAudioOutput`; models loaded once by the simulator's stack):
silero VAD, Whisper tiny.en behind the speculative STT, the session's interruption handling,
``TandemAgent.stt_node``'s backchannel decision, the floor arbiter and the hibari voice. The
answer goes through the floor as a thinker answer does; the overlap, in the simulator's caller
voice, starts 1.5 to 4.5 s into it (the offsets cycle). Per overlap:

* **stopped**: the answer's speech was interrupted within :data:`SETTLE_S` of the overlap's end
  (a pause the framework resumes is not a stop), or it was still paused then;
* **time to stop**: from the overlap's first sample to the agent's last one before it stopped;
* **hiccup**: for an agent that went on, how long its audio paused during the overlap.

Reported: the share of backchannels the agent went on through, the share of barge-ins that
stopped it, precision and recall of "stop" (a barge-in is a positive), time to stop p50/p95 and
the backchannel hiccups; ``--verbose`` prints each overlap with what Whisper heard.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import os
import statistics
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from bench._machine import describe, machine
from responder.assembly import RoomlessAudio, assemble_call
from responder.floor import Priority, Utterance
from responder.offline import HibariTTS
from responder.pcm import Int16Array
from shared.config import ResponderSettings, Settings
from shared.profile import find_profile
from simulator.audio_io import CallerAudioInput, CapturingAudioOutput, TimedChunk
from simulator.stack import Stack, open_stack
from simulator.voice import SAMPLE_RATE, CallerVoice

DATA = Path(__file__).resolve().parent / "data" / "overlaps.yaml"
BENCH_PROFILE = "restaurant"
ANSWER = (
    "We're open from noon to three for lunch and from six until eleven for dinner, Tuesday to "
    "Sunday. On Fridays and Saturdays the kitchen stays open until midnight, and the bar serves "
    "small plates until one in the morning. We're closed on Mondays, except on public holidays, "
    "when we open for dinner only. For groups of eight or more we recommend booking two days "
    "ahead, and for a table on the terrace in summer, a week ahead is safer."
)
"""The long answer every overlap is said over (about 20 s in the hibari voice)."""
OFFSETS_S = (1.5, 2.5, 3.5, 4.5)
"""How far into the answer the overlaps start, in turn."""
SETTLE_S = 3.5
"""After the overlap ends: time for the VAD's end of speech, the transcript and the framework's
false-interruption resume (1.5 s) to play out before the outcome is read."""
GAP_S = 0.05
"""A break in the agent's audio longer than this is a pause."""

Label = Literal["backchannel", "barge_in"]


@dataclass(frozen=True)
class Overlap:
    """One labelled line of the set."""

    text: str
    label: Label


def load_overlaps(path: Path = DATA) -> list[Overlap]:
    """The labelled set: every backchannel, then every barge-in."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    return [
        Overlap(str(text), label)
        for label in ("backchannel", "barge_in")
        for text in raw.get(label) or ()
    ]


@dataclass
class Trial:
    """What happened to the answer when one overlap was said over it."""

    text: str
    label: Label
    offset_s: float
    duration_s: float
    """Length of the overlap's audio."""
    heard: list[str] = field(default_factory=list)
    """Final transcripts: the ones the agent ignored as backchannels in parentheses."""
    stopped: bool = False
    stalled: bool = False
    """Neither interrupted nor playing when the outcome was read (counted as stopped)."""
    time_to_stop_s: float | None = None
    hiccup_s: float = 0.0
    """Agent silence during and after the overlap, when it went on."""


class _Clock:
    """When the floor said the answer was interrupted or spoken (``time.monotonic()``)."""

    def __init__(self) -> None:
        self.interrupted: float | None = None
        self.finished = asyncio.Event()


async def run_trial(
    stack: Stack, settings: Settings, overlap: Overlap, samples: Int16Array, offset_s: float
) -> Trial:
    """One call: the answer, ``samples`` said ``offset_s`` into it, the outcome."""
    mic, speaker = CallerAudioInput(), CapturingAudioOutput()
    call = await assemble_call(
        settings,
        stack.models,
        session_id=f"overlap-{uuid.uuid4().hex[:8]}",
        audio=RoomlessAudio(mic, speaker),
        greet=False,
    )
    trial = Trial(overlap.text, overlap.label, offset_s, len(samples) / SAMPLE_RATE)
    ignored = call.agent.on_backchannel

    def on_backchannel(text: str) -> None:
        trial.heard.append(f"({text})")
        ignored(text)

    call.agent.on_backchannel = on_backchannel
    call.session.on(
        "user_input_transcribed",
        lambda ev: trial.heard.append(ev.transcript) if ev.is_final else None,
    )
    answer = Utterance(kind="result", priority=Priority.RESULT, text=ANSWER)
    clock = _Clock()

    def on_floor(what: str, utterance: Utterance) -> None:
        if utterance is not answer:
            return
        if what == "interrupted" and clock.interrupted is None:
            clock.interrupted = time.monotonic()
        if what in ("interrupted", "spoken"):
            clock.finished.set()

    call.floor.listeners.append(on_floor)
    playing = asyncio.Event()
    speaker.add_listener(lambda event, _segment: playing.set() if event == "started" else None)
    try:
        await call.start()
        call.floor.post(answer)
        await asyncio.wait_for(playing.wait(), 15)
        await asyncio.sleep(offset_s)
        said = mic.play(samples, sample_rate=SAMPLE_RATE)
        await said.wait()
        assert said.started_at is not None
        assert said.ended_at is not None
        with contextlib.suppress(TimeoutError):
            remaining = said.ended_at + SETTLE_S - time.monotonic()
            await asyncio.wait_for(clock.finished.wait(), max(remaining, 0.0))
        read_at = time.monotonic()
        _outcome(trial, speaker.recorded_chunks, said.started_at, clock.interrupted, read_at)
    finally:
        await call.aclose("bench over")
        await mic.aclose()
        await speaker.aclose()
    return trial


def _outcome(
    trial: Trial,
    chunks: list[TimedChunk],
    overlap_start: float,
    interrupted_at: float | None,
    read_at: float,
) -> None:
    """Fill in ``trial`` from the agent audio that really played."""
    cutoff = interrupted_at if interrupted_at is not None else read_at
    heard = sorted((c for c in chunks if c.start < cutoff and len(c.samples)), key=_start)
    gaps: list[tuple[float, float]] = []  # agent silences after the overlap started
    for before, after in itertools.pairwise(heard):
        if after.start - before.end > GAP_S and before.end >= overlap_start:
            gaps.append((before.end, after.start))
    last_end = heard[-1].end if heard else overlap_start
    playing_at_read = read_at - last_end <= 0.2
    if interrupted_at is not None or not playing_at_read:
        trial.stopped = True
        trial.stalled = interrupted_at is None
        first_stop = gaps[0][0] if gaps else last_end
        trial.time_to_stop_s = round(max(first_stop - overlap_start, 0.0), 3)
    else:
        trial.hiccup_s = round(sum(end - start for start, end in gaps), 3)


def _start(chunk: TimedChunk) -> float:
    return chunk.start


async def bench(overlaps: list[Overlap]) -> dict[str, Any]:
    """Every overlap once, in order, one call each; the trials and their summary."""
    settings = Settings(
        _env_file=None,
        responder=ResponderSettings(_env_file=None, mode="offline", http_port=0, metrics_port=0),
    )
    load_before = os.getloadavg()
    trials: list[Trial] = []
    async with open_stack(settings, find_profile(BENCH_PROFILE), lambda _step: None) as stack:
        tts = stack.models.offline.tts if stack.models.offline is not None else None
        assert isinstance(tts, HibariTTS)
        voice = CallerVoice(tts)
        rendered = await asyncio.to_thread(lambda: [voice.render(o.text) for o in overlaps])
        for number, (overlap, samples) in enumerate(zip(overlaps, rendered, strict=True)):
            offset = OFFSETS_S[number % len(OFFSETS_S)]
            trials.append(await run_trial(stack, stack.settings, overlap, samples, offset))
    return {
        "summary": summarize(trials),
        "trials": [asdict(t) for t in trials],
        "load_average": {"before": load_before, "after": os.getloadavg()},
    }


def summarize(trials: list[Trial]) -> dict[str, Any]:
    """Shares, precision and recall of "stop" and the times."""
    backchannels = [t for t in trials if t.label == "backchannel"]
    barge_ins = [t for t in trials if t.label == "barge_in"]
    true_stops = sum(t.stopped for t in barge_ins)
    false_stops = sum(t.stopped for t in backchannels)
    went_on = [t for t in backchannels if not t.stopped]
    stop_times = [t.time_to_stop_s for t in barge_ins if t.time_to_stop_s is not None]
    hiccups = [t.hiccup_s for t in went_on]
    return {
        "backchannels": len(backchannels),
        "barge_ins": len(barge_ins),
        "backchannels_went_on": _share(len(went_on), len(backchannels)),
        "barge_ins_stopped": _share(true_stops, len(barge_ins)),
        "stop_precision": _share(true_stops, true_stops + false_stops),
        "stop_recall": _share(true_stops, len(barge_ins)),
        "time_to_stop_s": _percentiles(stop_times),
        "backchannel_paused": _share(sum(h > 0 for h in hiccups), len(hiccups)),
        "hiccup_s": _percentiles([h for h in hiccups if h > 0]),
        "stalled": sum(t.stalled for t in trials),
    }


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def _percentiles(values: list[float]) -> dict[str, float | int]:
    if not values:
        return {"n": 0}
    cuts = statistics.quantiles(values * (2 if len(values) == 1 else 1), n=20, method="inclusive")
    return {
        "n": len(values),
        "p50": round(statistics.median(values), 3),
        "p95": round(cuts[18], 3),
        "max": round(max(values), 3),
    }


def render(result: dict[str, Any], *, verbose: bool = False) -> str:
    """A readable report."""
    s = result["summary"]
    lines: list[str] = []
    if verbose:
        for t in result["trials"]:
            outcome = "STOP" if t["stopped"] else "on  "
            timing = (
                f"stop {t['time_to_stop_s']:.2f}s"
                if t["time_to_stop_s"] is not None
                else f"hiccup {t['hiccup_s']:.2f}s"
            )
            lines.append(
                f"{t['label']:<11} {outcome} {timing:<14} {t['duration_s']:.2f}s "
                f"{t['text']!r} -> {' | '.join(t['heard']) or '-'}"
            )
        lines.append("")

    def pct(value: float | None) -> str:
        return "-" if value is None else f"{value:.0%}"

    def times(stats: dict[str, Any]) -> str:
        if not stats["n"]:
            return "n=0"
        return f"p50 {stats['p50']:.2f} s, p95 {stats['p95']:.2f} s, max {stats['max']:.2f} s"

    lines += [
        f"backchannels the agent went on through: {pct(s['backchannels_went_on'])} "
        f"(of {s['backchannels']}); paused at all: {pct(s['backchannel_paused'])}, "
        f"pause {times(s['hiccup_s'])}",
        f"barge-ins that stopped it: {pct(s['barge_ins_stopped'])} (of {s['barge_ins']})",
        f"'stop': precision {pct(s['stop_precision'])}, recall {pct(s['stop_recall'])}",
        f"time to stop (barge-ins): {times(s['time_to_stop_s'])}",
    ]
    if s["stalled"]:
        lines.append(f"stalled (paused, never resumed nor interrupted): {s['stalled']}")
    load = result["load_average"]
    lines.append(
        f"load average (1 min) before {load['before'][0]:.2f}, after {load['after'][0]:.2f}"
    )
    lines.append(describe(result["machine"]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run, print."""
    parser = argparse.ArgumentParser(description="Backchannels and barge-ins over an answer.")
    parser.add_argument("--only", choices=("backchannel", "barge_in"), help="one kind only")
    parser.add_argument("--limit", type=int, default=0, help="at most N overlaps of each kind")
    parser.add_argument("--data", type=Path, default=DATA, help="the labelled set (YAML)")
    parser.add_argument("--verbose", action="store_true", help="one line per overlap")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    overlaps = [o for o in load_overlaps(args.data) if args.only in (None, o.label)]
    if args.limit:
        overlaps = _first_of_each(overlaps, args.limit)
    result = asyncio.run(bench(overlaps))
    result["machine"] = machine()
    print(json.dumps(result) if args.json else render(result, verbose=args.verbose))
    return 0


def _first_of_each(overlaps: list[Overlap], limit: int) -> list[Overlap]:
    counts: dict[str, int] = {}
    kept: list[Overlap] = []
    for overlap in overlaps:
        counts[overlap.label] = counts.get(overlap.label, 0) + 1
        if counts[overlap.label] <= limit:
            kept.append(overlap)
    return kept


if __name__ == "__main__":
    raise SystemExit(main())
