"""The timeline picture of one call: caller, agent and thinker lanes on one clock, with the
marked moments (interruptions, dead air, talk-over, stale results, fillers, nudges) on top.

Drawn with matplotlib's object API on an Agg canvas, never ``pyplot``: no global figure state
and no display needed, so runs can render in worker threads. matplotlib comes with the ``demo``
extra and is imported only to draw: the rest of this module works without it.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from responder.offline import require_demo_extra
from simulator.record import CallRecord, Mark, Speech, TaskSpan
from simulator.transcript import clock

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DPI = 100
"""Pixels per inch of the written PNG."""
MIN_WIDTH_IN, MAX_WIDTH_IN = 10.0, 24.0
"""Bounds on the picture's width; in between it grows with the call's duration."""

_SECONDS_PER_INCH = 5.0
_BASE_WIDTH_IN = 6.0
_AXES_MARGIN_IN = 1.4  # lane names on the left plus padding: what the bars do not get
_LANE_Y = {"caller": 2.0, "agent": 1.0, "thinker": 0.0}
_BAR_HEIGHT = 0.6
_LABEL_PT = 7.0
_CHAR_WIDTH = 0.5  # average glyph width as a fraction of the font size
_CUT_COLOR = "#d62728"

Shape = Literal["bar", "edge", "span", "line", "marker"]


@dataclass(frozen=True)
class Style:
    """How one category of thing looks in the picture; ``label`` is its legend text."""

    label: str
    color: str
    shape: Shape = "bar"
    hatch: str = ""
    alpha: float = 1.0
    marker: str = ""


STYLES: tuple[Style, ...] = (
    Style("caller", "#1f77b4"),
    Style("caller backchannel", "#1f77b4", hatch="///", alpha=0.35),
    Style("agent reply", "#2ca02c"),
    Style("agent ack", "#17becf"),
    Style("agent filler", "#ff7f0e"),
    Style("agent result", "#9467bd"),
    Style("agent notice", "#bcbd22"),
    Style("agent nudge", "#e377c2"),
    Style("agent wrap-up", "#8c564b"),
    Style("agent goodbye", "#393b79"),
    Style("agent other", "#7f7f7f"),
    Style("cut off", _CUT_COLOR, shape="edge"),
    Style("task answered", "#1a9850"),
    Style("task superseded/cancelled", "#bdbdbd", hatch="//"),
    Style("task failed/expired", "#d73027", hatch="xx", alpha=0.7),
    Style("task open", "#fee08b", hatch=".."),
    Style("task other", "#7f7f7f", hatch="\\\\"),
    Style("interruption", _CUT_COLOR, shape="line"),
    Style("dead air", "#000000", shape="span", alpha=0.12),
    Style("talk-over", _CUT_COLOR, shape="span", alpha=0.25),
    Style("stale", "#000000", shape="marker", marker="X"),
    Style("filler event", "#ff7f0e", shape="marker", marker="v"),
    Style("nudge event", "#e377c2", shape="marker", marker="D"),
    Style("session stage", "#393b79", shape="marker", marker="s"),
    Style("guardrail hit", "#d62728", shape="marker", marker="P"),
)
"""Every category the picture can show, in legend order."""

_BY_LABEL = {style.label: style for style in STYLES}
_AGENT_KINDS = {
    "reply": "reply",
    "ack": "ack",
    "filler": "filler",
    "result": "result",
    "notice": "notice",
    "nudge": "nudge",
    "wrap_up": "wrap-up",
    "goodbye": "goodbye",
}
_TASK_GROUPS = {
    "answered": "task answered",
    "superseded": "task superseded/cancelled",
    "cancelled": "task superseded/cancelled",
    "failed": "task failed/expired",
    "expired": "task failed/expired",
    "open": "task open",
}
_MARK_STYLES = {
    "interruption": "interruption",
    "dead_air": "dead air",
    "talk_over": "talk-over",
    "stale": "stale",
    "filler": "filler event",
    "nudge": "nudge event",
    "stage": "session stage",
    "guardrail": "guardrail hit",
}


def speech_style(speech: Speech) -> Style:
    """The style of a speech bar: by side, and for the agent by kind."""
    if speech.who == "caller":
        return _BY_LABEL["caller backchannel" if speech.kind == "backchannel" else "caller"]
    return _BY_LABEL[f"agent {_AGENT_KINDS.get(speech.kind, 'other')}"]


def task_style(task: TaskSpan) -> Style:
    """The style of a thinker bar, by outcome; a task that never ended counts as open."""
    if task.ended is None:
        return _BY_LABEL["task open"]
    return _BY_LABEL[_TASK_GROUPS.get(task.outcome, "task other")]


def mark_style(mark: Mark) -> Style:
    """The style of a marked moment."""
    return _BY_LABEL[_MARK_STYLES[mark.kind]]


def legend_entries(record: CallRecord) -> list[Style]:
    """The categories that appear in ``record``, in legend order: nothing the picture lacks."""
    used = {speech_style(s).label for s in record.speech}
    if any(s.interrupted for s in record.speech):
        used.add("cut off")
    used.update(task_style(t).label for t in record.tasks)
    used.update(mark_style(m).label for m in record.marks)
    return [style for style in STYLES if style.label in used]


def figure_width(duration: float) -> float:
    """Inches: grows with the call's duration, within ``MIN_WIDTH_IN``..``MAX_WIDTH_IN``."""
    return min(MAX_WIDTH_IN, max(MIN_WIDTH_IN, _BASE_WIDTH_IN + duration / _SECONDS_PER_INCH))


def fit_label(text: str, width_pt: float, font_pt: float = _LABEL_PT) -> str:
    """``text`` on one line, cut with an ellipsis to fit ``width_pt`` points; empty if not even
    a few characters fit."""
    flat = " ".join(text.split())
    room = int(width_pt / (font_pt * _CHAR_WIDTH))
    if room < 3 or not flat:
        return ""
    return flat if len(flat) <= room else flat[: room - 1].rstrip() + "…"


def task_rows(tasks: Iterable[TaskSpan], call_end: float) -> dict[int, int]:
    """Task number → row within the thinker lane, so that overlapping tasks sit side by side
    (first row that is free when the task is submitted)."""
    row_free_at: list[float] = []
    rows: dict[int, int] = {}
    for task in sorted(tasks, key=lambda t: (t.submitted, t.number)):
        row = next((i for i, free in enumerate(row_free_at) if free <= task.submitted), None)
        if row is None:
            row = len(row_free_at)
            row_free_at.append(0.0)
        row_free_at[row] = _task_end(task, call_end)
        rows[task.number] = row
    return rows


def render_timeline(record: CallRecord, path: str | Path) -> Path:
    """Draw ``record`` and write it to ``path`` as a PNG (atomically); returns the path.

    The picture is ``figure_width(record.duration) * DPI`` pixels wide. Without matplotlib (the
    ``demo`` extra) it raises :class:`~shared.errors.ConfigError`.
    """
    require_demo_extra("the call timeline picture", ("matplotlib",))
    target = Path(path)
    figure = _draw(record)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            figure.savefig(out, format="png", dpi=DPI)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _draw(record: CallRecord) -> Figure:
    """The whole picture, on its own Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    entries = legend_entries(record)
    width = figure_width(record.duration)
    columns = max(1, int(width / 2.4))
    legend_rows = math.ceil(len(entries) / columns)
    figure = Figure(figsize=(width, 3.4 + 0.22 * legend_rows), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    span = _span(record)
    _setup_axes(ax, record, span)
    pt_per_s = (width - _AXES_MARGIN_IN) * 72 / span
    _draw_marks_behind(ax, record.marks)
    _draw_speech(ax, record.speech, pt_per_s)
    _draw_tasks(ax, record.tasks, record.duration, pt_per_s)
    _draw_marks_on_top(ax, record.marks)
    if entries:
        handles = [_legend_handle(style) for style in entries]
        figure.legend(handles=handles, loc="outside lower center", ncols=columns, fontsize=8)
    return figure


def _setup_axes(ax: Axes, record: CallRecord, span: float) -> None:
    """Lanes, x axis in seconds and the title."""
    ax.set_xlim(0.0, span)
    ax.set_ylim(-0.55, 2.55)
    ax.set_yticks(list(_LANE_Y.values()), list(_LANE_Y))
    ax.set_xlabel("seconds since the call started")
    ax.grid(axis="x", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    for y in (0.5, 1.5):
        ax.axhline(y, color="#eeeeee", linewidth=0.8)
    title = f"{record.scenario} — {clock(record.duration)} ({record.duration:.1f} s)"
    ax.set_title(title, parse_math=False)


def _draw_speech(ax: Axes, speech: list[Speech], pt_per_s: float) -> None:
    """One bar per stretch of speech in its side's lane, labelled where the text fits."""
    for s in speech:
        width = max(s.end - s.start, 0.0)
        style = speech_style(s)
        _bar(ax, s.start, width, _LANE_Y[s.who], _BAR_HEIGHT, style, cut=s.interrupted)
        _label(ax, s.start, width, _LANE_Y[s.who], s.heard_text, pt_per_s)


def _draw_tasks(ax: Axes, tasks: list[TaskSpan], call_end: float, pt_per_s: float) -> None:
    """One bar per task, from submission to its end (or the call's), stacked when they overlap."""
    rows = task_rows(tasks, call_end)
    height = _BAR_HEIGHT / (max(rows.values(), default=0) + 1)
    top = _LANE_Y["thinker"] + _BAR_HEIGHT / 2
    for task in tasks:
        y = top - height * (rows[task.number] + 0.5)
        width = max(_task_end(task, call_end) - task.submitted, 0.0)
        _bar(ax, task.submitted, width, y, height * 0.9, task_style(task))
        _label(ax, task.submitted, width, y, f"#{task.number} {task.request}", pt_per_s)


def _draw_marks_behind(ax: Axes, marks: list[Mark]) -> None:
    """Stretches (dead air across all lanes, talk-over across the two speaking lanes)."""
    for mark in marks:
        style = mark_style(mark)
        if mark.kind == "dead_air":
            ax.axvspan(mark.t, mark.t + mark.seconds, color=style.color, alpha=style.alpha, lw=0)
        elif mark.kind == "talk_over":
            ax.barh(
                1.5,
                mark.seconds,
                1.0 + _BAR_HEIGHT,
                left=mark.t,
                color=style.color,
                alpha=style.alpha,
                linewidth=0,
                zorder=0.5,
            )


def _draw_marks_on_top(ax: Axes, marks: list[Mark]) -> None:
    """Moments: interruptions as vertical lines, stale results on the thinker lane, filler and
    nudge events just above the agent lane."""
    marker_y = {
        "stale": _LANE_Y["thinker"],
        "filler": 1.4,
        "nudge": 1.4,
        "stage": 1.4,
        "guardrail": 0.6,
    }
    for mark in marks:
        style = mark_style(mark)
        if mark.kind == "interruption":
            ax.axvline(mark.t, color=style.color, linestyle="--", linewidth=1.2, zorder=4)
        elif mark.kind in marker_y:
            size = 9 if mark.kind == "stale" else 5
            ax.plot(
                [mark.t],
                [marker_y[mark.kind]],
                linestyle="none",
                marker=style.marker,
                markersize=size,
                color=style.color,
                markeredgecolor="white",
                markeredgewidth=0.5,
                zorder=5,
            )


def _bar(
    ax: Axes, left: float, width: float, y: float, height: float, style: Style, *, cut: bool = False
) -> None:
    """One horizontal bar; a cut-off one gets a red edge and a tick at its end."""
    ax.barh(
        y,
        width,
        height,
        left=left,
        color=style.color,
        alpha=style.alpha,
        hatch=style.hatch or None,
        edgecolor=_CUT_COLOR if cut else "white",
        linewidth=1.6 if cut else 0.4,
        zorder=2,
    )
    if cut:
        ax.plot(
            [left + width] * 2,
            [y - height * 0.75, y + height * 0.75],
            color=_CUT_COLOR,
            linewidth=2.0,
            zorder=3,
        )


def _label(ax: Axes, left: float, width: float, y: float, text: str, pt_per_s: float) -> None:
    """``text`` inside the bar, truncated to fit, or nothing if it does not."""
    fitted = fit_label(text, width * pt_per_s - 4)
    if fitted:
        ax.text(
            left + 2 / pt_per_s,
            y,
            fitted,
            fontsize=_LABEL_PT,
            va="center",
            ha="left",
            clip_on=True,
            parse_math=False,
            zorder=6,
        )


def _legend_handle(style: Style) -> Artist:
    """A legend swatch drawn the way the category is drawn."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    if style.shape == "line":
        return Line2D([], [], color=style.color, linestyle="--", label=style.label)
    if style.shape == "marker":
        return Line2D(
            [], [], color=style.color, marker=style.marker, linestyle="none", label=style.label
        )
    if style.shape == "edge":
        return Patch(facecolor="white", edgecolor=style.color, linewidth=1.6, label=style.label)
    return Patch(
        facecolor=style.color, alpha=style.alpha, hatch=style.hatch or None, label=style.label
    )


def _task_end(task: TaskSpan, call_end: float) -> float:
    """When the task's bar stops: its end, or the call's if it never ended."""
    return call_end if task.ended is None else task.ended


def _span(record: CallRecord) -> float:
    """Seconds the x axis covers: the call, and anything recorded past its end."""
    ends = [record.duration, 1.0]
    ends.extend(s.end for s in record.speech)
    ends.extend(t.ended for t in record.tasks if t.ended is not None)
    ends.extend(m.t + m.seconds for m in record.marks)
    return max(ends)
