"""``deploy/prometheus/`` and ``deploy/grafana/`` against the code: every metric a PromQL
expression there names is one tandem exports (or Prometheus makes, like ``up``), every ``job``
it filters on is scraped, the bus series are aggregated with ``max()``, and every alert says
why it exists and what to do."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from responder.metrics import ResponderMetrics
from thinker.metrics import ThinkerMetrics

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
ALERTS = DEPLOY / "prometheus" / "alerts.yaml"
SCRAPES = DEPLOY / "prometheus" / "prometheus.yml"
DASHBOARD = DEPLOY / "grafana" / "tandem.json"

MADE_BY_PROMETHEUS = frozenset({"up"})
"""Series Prometheus writes itself for every target."""

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_WORD = re.compile(r"(?<![\w.])[A-Za-z_:][A-Za-z0-9_:]*")
_KEYWORDS = frozenset({"and", "or", "unless", "offset", "bool", "inf", "nan"})
_JOB = re.compile(r'\bjob\s*=\s*"([^"]*)"')


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads: what is left once strings, label matchers,
    ranges, grouping clauses, function calls, keywords and numbers are set aside."""
    bare = _STRINGS.sub('""', expr)
    bare = _GROUPING.sub(" ", _RANGES.sub(" ", _MATCHERS.sub(" ", bare)))
    names = set()
    for match in _WORD.finditer(bare):
        is_call = bare[match.end() :].lstrip().startswith("(")
        if not is_call and match.group().lower() not in _KEYWORDS:
            names.add(match.group())
    return names


def exported(registry: CollectorRegistry) -> set[str]:
    """Every sample name ``registry`` can expose, including those of labelled series that have
    no child yet (a histogram's ``_bucket``/``_sum``/``_count``, a counter's ``_total``)."""
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
        "summary": ("", "_sum", "_count", "_created"),
        "info": ("_info",),
    }
    names: set[str] = set()
    for family in registry.collect():
        names.update(family.name + suffix for suffix in suffixes.get(family.type, ("",)))
        names.update(sample.name for sample in family.samples)
    return names


def code_exports() -> set[str]:
    """What a thinker's and a responder job process's ``/metrics`` can show."""
    return exported(ThinkerMetrics().registry) | exported(ResponderMetrics().registry)


def alert_rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def dashboard_exprs() -> Iterator[tuple[str, str]]:
    def walk(panels: list[dict[str, Any]]) -> Iterator[tuple[str, str]]:
        for panel in panels:
            for target in panel.get("targets", []):
                yield panel["title"], target["expr"]
            yield from walk(panel.get("panels", []))

    yield from walk(json.loads(DASHBOARD.read_text())["panels"])


def all_exprs() -> list[tuple[str, str]]:
    """(where, PromQL) of every alert and dashboard query."""
    rules = [(f"alert {rule['alert']}", str(rule["expr"])) for rule in alert_rules()]
    return rules + [(f"panel {title}", expr) for title, expr in dashboard_exprs()]


def test_the_name_extraction_finds_metrics_and_nothing_else() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (le, turn) (rate(tandem_x_bucket{stage="pickup"}[5m])))'
        " > 1.5 and on(job) max(delta(tandem_bus_y[15m] offset 1h)) - up{job='a'} unless nan"
    )
    assert metric_names(expr) == {"tandem_x_bucket", "tandem_bus_y", "up"}


def test_every_metric_in_the_alerts_and_the_dashboard_is_exported() -> None:
    known = code_exports() | MADE_BY_PROMETHEUS
    used = {(where, name) for where, expr in all_exprs() for name in metric_names(expr)}
    assert used, "no expressions found"
    unknown = sorted(f"{where}: {name}" for where, name in used if name not in known)
    assert not unknown, "names the code does not export:\n" + "\n".join(unknown)


def test_the_alerts_and_the_dashboard_cover_what_operators_need() -> None:
    used = {name for _, expr in all_exprs() for name in metric_names(expr)}
    assert {
        "tandem_bus_dead_letters",
        "tandem_bus_oldest_pending_age_seconds",
        "tandem_bus_pending_tasks",
        "tandem_bus_group_lag",
        "tandem_responder_first_audio_seconds_bucket",
        "tandem_responder_job_failures_total",
        "tandem_thinker_stage_seconds_bucket",
        "tandem_thinker_tasks_total",
        "process_resident_memory_bytes",
        "tandem_build_info",
        "up",
    } <= used


def test_jobs_filtered_on_are_the_scraped_jobs() -> None:
    scraped = {job["job_name"] for job in yaml.safe_load(SCRAPES.read_text())["scrape_configs"]}
    filtered = {job for _, expr in all_exprs() for job in _JOB.findall(expr)}
    assert filtered
    assert filtered <= scraped


def test_bus_series_are_aggregated_with_max_never_sum() -> None:
    """Every thinker exports the same backlog: sum() would count it once per thinker."""
    for where, expr in all_exprs():
        uses = len(re.findall(r"tandem_bus_\w+", expr))
        in_max = len(re.findall(r"\bmax\s*\(\s*(?:delta\s*\()?\s*tandem_bus_\w+", expr))
        assert uses == in_max, f"{where}: {expr}"


def test_every_alert_is_commented_and_annotated() -> None:
    lines = ALERTS.read_text().splitlines()
    for number, line in enumerate(lines):
        if line.strip().startswith("- alert:"):
            assert lines[number - 1].strip().startswith("#"), f"no comment above: {line}"
    for rule in alert_rules():
        assert {"summary", "description"} <= set(rule["annotations"]), rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]


@pytest.mark.parametrize("misspelt", ["tandem_bus_pending_task", "tandem_thinker_tasks"])
def test_a_misspelt_name_would_be_caught(misspelt: str) -> None:
    assert misspelt not in code_exports()
    assert metric_names(f"max({misspelt})") == {misspelt}
