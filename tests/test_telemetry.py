"""Tracing set-up from the standard ``OTEL_*`` variables (on only when asked for, one line when it
cannot be), and the trace and session ids on log records."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import subprocess
import sys

import pytest
from click.testing import CliRunner
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from shared.cli import main
from shared.errors import ConfigError
from shared.log import TraceContext, configure_logging, session_scope, stamp_handlers
from shared.telemetry import check_tracing, configure_tracing, exporters_asked
from tests.fakes.otlp_collector import FakeCollector
from tests.worker_process import ROOT, clean_env

SPAN = SpanContext(
    trace_id=0x0AF7651916CD43DD8448EB211C80319C,
    span_id=0xB7AD6B7169203331,
    is_remote=False,
    trace_flags=TraceFlags(TraceFlags.SAMPLED),
)
OTLP_MODULE = "opentelemetry.exporter.otlp.proto.http.trace_exporter"


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, set()),
        ({"OTEL_SERVICE_NAME": "x", "OTEL_BSP_SCHEDULE_DELAY": "100"}, set()),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, {"otlp"}),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, {"otlp"}),
        ({"OTEL_TRACES_EXPORTER": "console"}, {"console"}),
        ({"OTEL_TRACES_EXPORTER": "otlp, console"}, {"otlp", "console"}),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c"}, set()),
        ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, set()),
    ],
)
def test_tracing_is_on_only_when_the_environment_asks_for_it(
    environ: dict[str, str], expected: set[str]
) -> None:
    assert exporters_asked(environ) == expected


def test_without_otel_variables_nothing_is_installed() -> None:
    before = trace.get_tracer_provider()
    assert configure_tracing("tandem-test", environ={}) is None
    assert trace.get_tracer_provider() is before


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER"),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ),
    ],
)
def test_what_tandem_cannot_export_is_one_line_naming_the_variable(
    environ: dict[str, str], variable: str
) -> None:
    with pytest.raises(ConfigError, match=f"^{variable}: ") as error:
        check_tracing(environ)
    assert "\n" not in str(error.value)


def test_tracing_asked_for_without_the_extra_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, OTLP_MODULE, None)  # as if the exporter were not installed
    with pytest.raises(ConfigError) as error:
        check_tracing({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert str(error.value) == (
        f"tracing is asked for (OTEL_* variables) but {OTLP_MODULE} is not installed: "
        "pip install 'tandem-voice[otel]'"
    )
    check_tracing({"OTEL_TRACES_EXPORTER": "console"})  # the console needs only the SDK


def test_the_thinker_command_refuses_tracing_it_cannot_set_up_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "jaeger")
    result = CliRunner().invoke(main, ["thinker"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: OTEL_TRACES_EXPORTER: jaeger is not available; use console or otlp (or none)"
    ]


SCRIPT = """
from shared.telemetry import configure_tracing, shutdown_tracing
from shared.tracing import tracer
provider = configure_tracing("tandem-probe")
assert configure_tracing("tandem-probe") is provider  # once per process
with tracer("tandem.probe").start_as_current_span("probe.span"):
    pass
shutdown_tracing()  # the batch would wait a minute: shutting down exports it now
"""


async def _run_probe(**otel: str) -> None:
    env = clean_env(OTEL_BSP_SCHEDULE_DELAY="60000", **otel)
    probe = [sys.executable, "-c", SCRIPT]
    done = await asyncio.to_thread(
        subprocess.run, probe, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


async def test_spans_go_to_the_otlp_endpoint_named_by_the_sdk_and_flushed_at_shutdown() -> None:
    async with FakeCollector() as collector:
        await _run_probe(OTEL_EXPORTER_OTLP_ENDPOINT=collector.url)
        await _run_probe(
            OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=f"{collector.url}/v1/traces",
            OTEL_SERVICE_NAME="front-desk",
            OTEL_RESOURCE_ATTRIBUTES="deployment.environment=staging",
        )
        await collector.wait_for(lambda spans: len(spans) == 2, limit_s=5)
    default, named = collector.spans
    assert default.name == named.name == "probe.span"
    assert default.service == "tandem-probe"  # the role, when OTEL_SERVICE_NAME is not set
    assert named.service == "front-desk"
    assert default.pid != named.pid
    assert collector.exports == 2


def _json_line(log: logging.Logger, message: str, **extra: str) -> dict[str, str]:
    stream = io.StringIO()
    configure_logging("INFO", "json", stream)
    log.info(message, extra=extra)
    line: dict[str, str] = json.loads(stream.getvalue())
    return line


def test_json_logs_carry_the_current_trace_and_session() -> None:
    log = logging.getLogger("tandem.test.trace")
    with trace.use_span(NonRecordingSpan(SPAN)), session_scope("mock-job-1"):
        inside = _json_line(log, "task submitted")
        own = _json_line(log, "task submitted", session_id="another")
    outside = _json_line(log, "task submitted")
    assert inside["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert inside["span_id"] == "b7ad6b7169203331"
    assert inside["session_id"] == "mock-job-1"
    assert own["session_id"] == "another"  # what the record says stands
    assert not {"trace_id", "span_id", "session_id"} & set(outside)


def test_a_record_stamped_in_a_job_process_keeps_its_ids_in_the_worker() -> None:
    record = logging.makeLogRecord({"msg": "call started", "trace_id": "a" * 32, "span_id": "b"})
    with trace.use_span(NonRecordingSpan(SPAN)):
        assert TraceContext().filter(record)
    assert record.__dict__["trace_id"] == "a" * 32
    assert record.__dict__["span_id"] == "b"


def test_every_root_handler_is_stamped_once() -> None:
    logger = logging.getLogger("tandem.test.stamped")
    handler = logging.StreamHandler(io.StringIO())
    logger.addHandler(handler)
    try:
        stamp_handlers(logger)
        stamp_handlers(logger)
        assert sum(isinstance(f, TraceContext) for f in handler.filters) == 1
    finally:
        logger.removeHandler(handler)
