"""The Markdown transcript of one call: every line of speech in time order, with the thinker's
tasks and the marked moments (interruptions, dead air, talk-over, stale results) interleaved
where they happened.

Transcripts are personal data: this module writes them where it is told and logs nothing.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from simulator.record import CallRecord, Mark, Speech, TaskSpan

_MARK_NAMES = {
    "interruption": "interruption",
    "dead_air": "dead air",
    "talk_over": "talk-over",
    "stale": "stale result",
    "stage": "session stage",
    "guardrail": "guardrail",
}
_PLAIN_AGENT_KINDS = {"reply", "line"}  # "line" is Speech's default: an untyped agent line
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_])")
_WHITESPACE = re.compile(r"\s+")


def clock(seconds: float) -> str:
    """``seconds`` since the call started as ``mm:ss.d`` (``3.24`` → ``"00:03.2"``).

    Minutes keep counting past an hour (``"75:00.0"``); negative times show as zero.
    """
    tenths = round(max(seconds, 0.0) * 10)
    minutes, tenths = divmod(tenths, 600)
    return f"{minutes:02d}:{tenths // 10:02d}.{tenths % 10}"


@dataclass(frozen=True)
class _Entry:
    """One transcript line, sortable by when it happened."""

    t: float
    rank: int
    """Tie-break at equal times: speech, then task events, then marks."""
    text: str


def render_transcript(
    record: CallRecord, *, title: str | None = None, notes: Sequence[str] = ()
) -> str:
    """The call as Markdown: a heading, optional ``notes`` as bullets, then one paragraph per
    line of speech, task event or marked moment, in time order."""
    blocks = [
        f"# {title or f'Call {_code(record.scenario)}'}",
        f"Scenario {_code(record.scenario)} · {clock(record.duration)} "
        f"({record.duration:.1f} s) · {len(record.speech)} lines · {len(record.tasks)} tasks",
    ]
    if notes:
        blocks.append("\n".join(f"- {_one_line(note)}" for note in notes))
    entries = sorted(_entries(record), key=lambda e: (e.t, e.rank))
    blocks.extend(entry.text for entry in entries)
    if not entries:
        blocks.append("_(nothing was said)_")
    return "\n\n".join(blocks) + "\n"


def write_transcript(
    record: CallRecord,
    path: str | Path,
    *,
    title: str | None = None,
    notes: Sequence[str] = (),
) -> Path:
    """Write :func:`render_transcript` to ``path`` (UTF-8, atomically) and return the path."""
    target = Path(path)
    text = render_transcript(record, title=title, notes=notes)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _entries(record: CallRecord) -> list[_Entry]:
    """Every line of the transcript body, unsorted."""
    entries = [_Entry(s.start, 0, _speech_line(s)) for s in record.speech]
    for task in record.tasks:
        entries.extend(_task_entries(task, record.duration))
    entries.extend(_Entry(m.t, 2, _mark_line(m)) for m in record.marks if m.kind in _MARK_NAMES)
    return entries


def _speech_line(speech: Speech) -> str:
    """``**[00:03.2 → 00:05.9] Caller:** *(filler)* text *(cut off)* ~~unheard rest~~``.

    A cut-off line shows what was heard, then the rest of what was being said struck through
    (where the cut fell is estimated from the audio that played: see :mod:`simulator.record`).
    """
    tags = []
    if speech.who == "caller" and speech.kind == "backchannel":
        tags.append("*(backchannel)*")
    elif speech.who == "agent" and speech.kind not in _PLAIN_AGENT_KINDS:
        tags.append(f"*({_inline(speech.kind)})*")
    heard = speech.heard_text if speech.interrupted else speech.text
    words = [*tags, _inline(heard)] if heard.strip() else tags
    if speech.interrupted:
        words.append("*(cut off)*")
        rest = _one_line(speech.text[len(heard) :])
        if rest:
            words.append(f"~~{_inline(rest)}~~")
    stamp = f"[{clock(speech.start)} → {clock(speech.end)}]"
    return " ".join([f"**{stamp} {speech.who.capitalize()}:**", *words])


def _task_entries(task: TaskSpan, call_end: float) -> list[_Entry]:
    """The task's submission and its end (or, if it never ended, its state at hang-up)."""
    submitted = _note(task.submitted, f'task #{task.number} submitted: "{_inline(task.request)}"')
    if task.ended is None:
        return [
            _Entry(task.submitted, 1, submitted),
            _Entry(call_end, 1, _note(call_end, f"task #{task.number} still {task.outcome}")),
        ]
    took = task.ended - task.submitted
    ended = _note(task.ended, f"task #{task.number} {task.outcome} ({took:.2f} s)")
    return [_Entry(task.submitted, 1, submitted), _Entry(task.ended, 1, ended)]


def _mark_line(mark: Mark) -> str:
    """An italic note for a marked moment, with its length if it has one."""
    text = _MARK_NAMES[mark.kind]
    if mark.seconds:
        text += f" ({mark.seconds:.2f} s)"
    if mark.label:
        text += f": {_inline(mark.label)}"
    return _note(mark.t, text)


def _note(t: float, text: str) -> str:
    """An italic, time-stamped note line."""
    return f"_[{clock(t)}] {text}_"


def _inline(text: str) -> str:
    """``text`` on one line, with only the characters that would change Markdown emphasis
    escaped; punctuation, quotes and other scripts pass through unchanged."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", _one_line(text))


def _one_line(text: str) -> str:
    """``text`` with every run of whitespace, line breaks included, as one space."""
    return _WHITESPACE.sub(" ", text).strip()


def _code(text: str) -> str:
    """``text`` as an inline code span (identifiers such as scenario names read as they are)."""
    return "`" + _one_line(text).replace("`", "'") + "`"
