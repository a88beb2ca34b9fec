"""The call's transcript and timeline picture: what a reader of a run's artifacts relies on."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import pytest
from rich.console import Console

from simulator.console import LiveTranscript, loading
from simulator.record import CallRecord, Mark, Speech, TaskSpan
from simulator.timeline import (
    DPI,
    fit_label,
    legend_entries,
    render_timeline,
    task_rows,
    task_style,
)
from simulator.transcript import clock, render_transcript, write_transcript

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def booking_call() -> CallRecord:
    """A short call with a bit of everything, speech deliberately out of order."""
    return CallRecord(
        scenario="booking",
        duration=20.0,
        speech=[
            Speech("agent", 5.2, 6.0, "One moment.", kind="filler"),
            Speech("caller", 0.5, 3.24, "Table for four, Friday 8pm?"),
            Speech("agent", 3.5, 4.9, "Sure!", kind="reply", interrupted=True),
            Speech("caller", 4.0, 4.3, "mm-hm", kind="backchannel"),
            Speech("agent", 8.0, 11.96, "You're booked for 8pm.", kind="result"),
            Speech("agent", 13.0, 14.0, "Anything else?"),
        ],
        tasks=[
            TaskSpan(2, "table for four Friday 8pm", 3.3, 5.14, "answered"),
            TaskSpan(3, "parking nearby", 12.0, None, "open"),
        ],
        marks=[
            Mark(4.0, "interruption"),
            Mark(6.0, "dead_air", seconds=2.0),
            Mark(5.3, "filler"),
        ],
    )


def body_lines(markdown: str) -> list[str]:
    """The transcript's entries: non-empty lines after the heading, summary and notes."""
    return [line for line in markdown.splitlines() if line.startswith(("**[", "_["))]


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from the PNG's IHDR chunk, after checking the signature."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_SIGNATURE
    assert head[12:16] == b"IHDR"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0.0, "00:00.0"),
        (3.24, "00:03.2"),
        (59.96, "01:00.0"),
        (754.27, "12:34.3"),
        (3723.0, "62:03.0"),
        (-0.4, "00:00.0"),
    ],
)
def test_clock_formats_minutes_seconds_and_tenths(seconds: float, expected: str) -> None:
    assert clock(seconds) == expected


def test_transcript_lists_everything_in_time_order_with_tags() -> None:
    assert body_lines(render_transcript(booking_call())) == [
        "**[00:00.5 → 00:03.2] Caller:** Table for four, Friday 8pm?",
        '_[00:03.3] task #2 submitted: "table for four Friday 8pm"_',
        "**[00:03.5 → 00:04.9] Agent:** Sure! *(cut off)*",
        "**[00:04.0 → 00:04.3] Caller:** *(backchannel)* mm-hm",
        "_[00:04.0] interruption_",
        "_[00:05.1] task #2 answered (1.84 s)_",
        "**[00:05.2 → 00:06.0] Agent:** *(filler)* One moment.",
        "_[00:06.0] dead air (2.00 s)_",
        "**[00:08.0 → 00:12.0] Agent:** *(result)* You're booked for 8pm.",
        '_[00:12.0] task #3 submitted: "parking nearby"_',
        "**[00:13.0 → 00:14.0] Agent:** Anything else?",
        "_[00:20.0] task #3 still open_",
    ]


def test_transcript_heading_summary_and_notes() -> None:
    markdown = render_transcript(booking_call(), title="Run 7", notes=["verdict: **pass**"])
    assert markdown.startswith("# Run 7\n\nScenario `booking` · 00:20.0 (20.0 s) · 6 lines")
    assert "\n- verdict: **pass**\n" in markdown
    assert render_transcript(CallRecord("quiet", 0.0)).startswith("# Call `quiet`\n")


def test_transcript_keeps_text_verbatim_on_one_line() -> None:
    text = 'It\'s $40 & <cash> — "ok" 你好\nsecond line'
    record = CallRecord("s", 5.0, speech=[Speech("caller", 1.0, 2.0, text)])
    assert body_lines(render_transcript(record)) == [
        '**[00:01.0 → 00:02.0] Caller:** It\'s $40 & <cash> — "ok" 你好 second line'
    ]


def test_transcript_escapes_only_emphasis_characters() -> None:
    record = CallRecord("s", 5.0, speech=[Speech("agent", 1.0, 2.0, "2*3 is_six", kind="ack")])
    assert body_lines(render_transcript(record)) == [
        r"**[00:01.0 → 00:02.0] Agent:** *(ack)* 2\*3 is\_six"
    ]


def test_empty_transcript_says_so() -> None:
    assert render_transcript(CallRecord("quiet", 0.0)).endswith("_(nothing was said)_\n")


def test_write_transcript_writes_utf8_and_leaves_no_temp_files(tmp_path: Path) -> None:
    target = tmp_path / "transcript.md"
    assert write_transcript(booking_call(), target, title="T") == target
    assert target.read_text(encoding="utf-8") == render_transcript(booking_call(), title="T")
    assert [p.name for p in tmp_path.iterdir()] == ["transcript.md"]


@pytest.mark.parametrize(("duration", "inches"), [(2.0, 10.0), (40.0, 14.0), (3600.0, 24.0)])
def test_timeline_is_a_png_whose_width_follows_the_duration(
    tmp_path: Path, duration: float, inches: float
) -> None:
    record = booking_call()
    record.duration = duration
    record.speech.append(Speech("caller", 1.0, 9.0, "costs $_$ or _so_"))  # not mathtext
    target = tmp_path / "timeline.png"
    assert render_timeline(record, target) == target
    width, height = png_size(target)
    assert width == inches * DPI
    assert 300 <= height <= 500
    assert [p.name for p in tmp_path.iterdir()] == ["timeline.png"]


def test_timeline_of_an_empty_call(tmp_path: Path) -> None:
    width, _ = png_size(render_timeline(CallRecord("quiet", 0.0), tmp_path / "t.png"))
    assert width == 10 * DPI
    assert legend_entries(CallRecord("quiet", 0.0)) == []


def test_legend_lists_only_what_appears_in_legend_order() -> None:
    record = CallRecord(
        "s",
        10.0,
        speech=[
            Speech("agent", 1.0, 2.0, "hmm", kind="filler", interrupted=True),
            Speech("caller", 0.0, 1.0, "hi"),
            Speech("agent", 3.0, 4.0, "?", kind="something new"),
        ],
        tasks=[TaskSpan(1, "x", 0.5, 2.0, "expired")],
        marks=[Mark(2.5, "stale")],
    )
    labels = [style.label for style in legend_entries(record)]
    assert labels == [
        "caller",
        "agent filler",
        "agent other",
        "cut off",
        "task failed/expired",
        "stale",
    ]
    assert [style.label for style in legend_entries(booking_call())] == [
        "caller",
        "caller backchannel",
        "agent reply",
        "agent filler",
        "agent result",
        "agent other",
        "cut off",
        "task answered",
        "task open",
        "interruption",
        "dead air",
        "filler event",
    ]


@pytest.mark.parametrize(
    ("outcome", "ended", "label"),
    [
        ("answered", 2.0, "task answered"),
        ("superseded", 2.0, "task superseded/cancelled"),
        ("cancelled", 2.0, "task superseded/cancelled"),
        ("failed", 2.0, "task failed/expired"),
        ("answered", None, "task open"),
        ("mystery", 2.0, "task other"),
    ],
)
def test_task_bars_are_grouped_by_outcome(outcome: str, ended: float | None, label: str) -> None:
    assert task_style(TaskSpan(1, "x", 1.0, ended, outcome)).label == label


def test_overlapping_tasks_get_their_own_rows_and_rows_are_reused() -> None:
    tasks = [
        TaskSpan(1, "a", 0.0, 5.0, "superseded"),
        TaskSpan(2, "b", 4.0, 8.0, "answered"),
        TaskSpan(3, "c", 5.0, None, "open"),
        TaskSpan(4, "d", 6.0, 7.0, "failed"),
    ]
    assert task_rows(tasks, call_end=10.0) == {1: 0, 2: 1, 3: 0, 4: 2}


def test_labels_fit_their_bars() -> None:
    assert fit_label("hello  there", width_pt=200.0) == "hello there"
    text = "a fairly long sentence that will not fit"
    cut = fit_label(text, width_pt=40.0, font_pt=7.0)
    assert cut.endswith("…")
    assert text.startswith(cut[:-1])
    assert len(cut) < len(fit_label(text, width_pt=80.0, font_pt=7.0)) < len(text)
    assert fit_label("anything", width_pt=5.0) == ""


def test_the_live_transcript_shows_who_said_what_and_what_happened_in_order() -> None:
    out = io.StringIO()
    live = LiveTranscript(Console(file=out, width=120, color_system=None), verbose=False)
    events: list[dict[str, object]] = [
        {"t": 0.0, "source": "responder", "event": "call_started"},  # not worth a line
        {"t": 1.0, "source": "caller", "event": "line", "action": "say", "text": "Table for 4?"},
        {
            "t": 2.0,
            "source": "session",
            "event": "user_input_transcribed",
            "data": {"transcript": "Table for 4?", "is_final": True},
        },  # only with --verbose
        {"t": 2.1, "source": "responder", "event": "task_submitted", "task": 1},
        {
            "t": 2.2,
            "source": "responder",
            "event": "message",
            "role": "agent",
            "text": "Let me [check].",
            "interrupted": True,
        },
        {"t": 4.0, "source": "responder", "event": "task_answer", "task": 1, "final": True},
        {
            "t": 5.0,
            "source": "simulator",
            "event": "goal_verdicts",
            "verdicts": [{"verdict": "continue"}, {"verdict": "yes"}],
        },
        {"t": 6.0, "source": "caller", "event": "hang_up", "reason": "goals_settled"},
        {"t": 6.5, "source": "simulator", "event": "call_over", "error": None},
    ]
    for event in events:
        live(event)
    assert out.getvalue().splitlines() == [
        "00:01.0  caller  Table for 4?",
        "00:02.1  … task #1 sent to the thinker",
        "00:02.2  agent   Let me [check]. (cut off)",
        "00:04.0  ✓ task #1 answered",
        "00:05.0    judge so far: continue, yes",
        "00:06.0  caller  hangs up (goals_settled)",
    ]


def test_loading_reports_each_step_once_it_is_done() -> None:
    out = io.StringIO()
    with loading(Console(file=out, width=100, color_system=None), total=2) as step:
        step("starting a private redis-server")
        step("loading the silero VAD")
    assert out.getvalue().strip("\n").splitlines() == [
        "  done: starting a private redis-server",
        "  done: loading the silero VAD",
    ]
