"""What the caller felt, measured from the recording itself: the simulator knows to the sample
when each caller line ended and when agent audio started, so these figures need no VAD estimate.

- **First audio**: caller end of turn to the first agent audio after it, by turn type: ``direct``
  (answered by the responder), ``delegated`` (the turn started a thinker task: this is the
  acknowledgement), ``after_interruption`` (the caller cut into the agent).
- **First filler**: end of a delegated turn to the first filler.
- **Dead air**: silence beyond 1 s while the caller is owed something (an unanswered turn or a
  running task).
- **Talk-over**: agent audio that starts while the caller is speaking.
- **Duplicate results**: a task's answer spoken to the end more than once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from responder.metrics import percentiles
from simulator.record import CallRecord, Mark

DEAD_AIR_GRACE_S = 1.0
_STEP_S = 0.01


@dataclass(frozen=True)
class Turn:
    """One caller turn and the agent's first audio after it."""

    ended: float
    type: str
    first_audio_s: float | None
    first_filler_s: float | None


def turns(record: CallRecord, events: Sequence[dict[str, Any]]) -> list[Turn]:
    """The caller's turns (backchannels are not turns) with their answer times."""
    caller = [s for s in record.said_by("caller") if s.kind != "backchannel"]
    agent = record.said_by("agent")
    submitted = [e["t"] for e in events if e.get("event") == "task_submitted"]
    found: list[Turn] = []
    for index, line in enumerate(caller):
        horizon = caller[index + 1].start if index + 1 < len(caller) else record.duration
        reply = next((s for s in agent if line.end <= s.start < horizon), None)
        first_audio = reply.start - line.end if reply is not None else None
        answered_by = reply.start if reply is not None else horizon
        delegated = any(line.start <= t <= answered_by + 0.5 for t in submitted)
        interrupting = any(s.start < line.start < s.end for s in agent)
        kind = "after_interruption" if interrupting else "delegated" if delegated else "direct"
        filler = next(
            (s for s in agent if line.end <= s.start < horizon and s.kind == "filler"), None
        )
        found.append(
            Turn(
                ended=line.end,
                type=kind,
                first_audio_s=first_audio,
                first_filler_s=filler.start - line.end if filler and delegated else None,
            )
        )
    return found


def talk_over(record: CallRecord) -> list[Mark]:
    """Agent audio that started while the caller was speaking, as marks (with the overlap)."""
    caller = record.said_by("caller")
    marks: list[Mark] = []
    for speech in record.said_by("agent"):
        for line in caller:
            if line.start < speech.start < line.end:
                overlap = min(line.end, speech.end) - speech.start
                marks.append(Mark(speech.start, "talk_over", overlap, speech.text[:40]))
                break
    return marks


def dead_air(record: CallRecord, turn_list: Sequence[Turn]) -> list[Mark]:
    """Silences beyond the grace while the caller was owed something, as marks."""
    owed: list[tuple[float, float]] = [
        (turn.ended, turn.ended + (turn.first_audio_s or record.duration)) for turn in turn_list
    ]
    agent_starts = [s.start for s in record.said_by("agent")]
    for task in record.tasks:  # owed until its outcome starts to be spoken
        ended = task.ended if task.ended is not None else record.duration
        told = next((t for t in agent_starts if t >= ended), record.duration)
        owed.append((task.submitted, told))
    marks: list[Mark] = []
    run_start: float | None = None
    steps = int(record.duration / _STEP_S) + 1
    for step in range(steps + 1):
        t = step * _STEP_S
        silent = step < steps and not any(s.start <= t < s.end for s in record.speech)
        waiting = any(start <= t < end for start, end in owed)
        if silent and waiting:
            run_start = t if run_start is None else run_start
            continue
        if run_start is not None and t - run_start > DEAD_AIR_GRACE_S:
            seconds = t - run_start - DEAD_AIR_GRACE_S
            marks.append(Mark(run_start + DEAD_AIR_GRACE_S, "dead_air", round(seconds, 3)))
        run_start = None
    return marks


def duplicate_results(events: Sequence[dict[str, Any]]) -> int:
    """Task answers spoken in full more than once (re-speaking a cut-off answer is not one)."""
    spoken = Counter(
        tuple(e.get("tasks") or ())
        for e in events
        if e.get("event") == "floor_spoken" and e.get("kind") == "result"
    )
    return sum(count - 1 for tasks, count in spoken.items() if tasks and count > 1)


def summarize(
    record: CallRecord, events: Sequence[dict[str, Any]], responder: dict[str, Any]
) -> dict[str, Any]:
    """Every figure of one call as JSON-able values (``responder``: its own call summary)."""
    turn_list = turns(record, events)
    by_type: dict[str, list[float]] = {}
    for turn in turn_list:
        if turn.first_audio_s is not None:
            by_type.setdefault(turn.type, []).append(turn.first_audio_s)
    fillers = [t.first_filler_s for t in turn_list if t.first_filler_s is not None]
    overs = talk_over(record)
    silences = dead_air(record, turn_list)
    return {
        "duration_s": round(record.duration, 3),
        "turns": len(turn_list),
        "unanswered_turns": sum(1 for t in turn_list if t.first_audio_s is None),
        "first_audio_s": {kind: percentiles(values) for kind, values in sorted(by_type.items())},
        "first_audio_samples": {k: [round(v, 3) for v in vs] for k, vs in sorted(by_type.items())},
        "first_filler_s": percentiles(fillers),
        "dead_air_s": round(sum(m.seconds for m in silences), 3),
        "talk_over": {"count": len(overs), "seconds": round(sum(m.seconds for m in overs), 3)},
        "stale_suppressed": int(responder.get("stale_suppressed", 0)),
        "respoken": int(responder.get("respoken", 0)),
        "duplicate_results": duplicate_results(events),
        "tasks": dict(Counter(task.outcome for task in record.tasks)),
        "responder": responder,
    }


def marks_for(record: CallRecord, events: Sequence[dict[str, Any]]) -> list[Mark]:
    """The marks a record should carry: interruptions, talk-over, dead air, stale results."""
    agent = record.said_by("agent")
    marks = [
        Mark(line.start, "interruption", 0.0, line.text[:40])
        for line in record.said_by("caller")
        if line.kind != "backchannel" and any(s.start < line.start < s.end for s in agent)
    ]
    marks += talk_over(record)
    marks += dead_air(record, turns(record, events))
    marks += [
        Mark(e["t"], "stale", 0.0, f"task #{e.get('task')}")
        for e in events
        if e.get("event") == "stale_suppressed"
    ]
    return sorted(marks, key=lambda m: m.t)
