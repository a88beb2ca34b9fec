"""The wire schema: round trips, versioning, and a decoder that only ever raises WireFormatError."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.errors import WireFormatError
from shared.wire import (
    WIRE_VERSION,
    CancelledEvent,
    CancelRequest,
    ContextTurn,
    ErrorEvent,
    ExpiredEvent,
    PartialEvent,
    ProgressEvent,
    ResultEvent,
    StartedEvent,
    TaskRequest,
    decode_command,
    decode_event,
    encode,
    peek_ids,
)

COMMON = {"task_id": "t-1", "session_id": "s-1", "seq": 0, "epoch": 4, "attempt": 2}
EVENTS = [
    StartedEvent(**COMMON, worker="host-1-ab"),
    ProgressEvent(**COMMON, message="checking Friday at eight"),
    PartialEvent(**COMMON, text="a table for 4 is free at 20:00"),
    ResultEvent(**COMMON, text="booked", data={"booking": {"id": "B12", "party": 4}}),
    ErrorEvent(**COMMON, code="failed", message="the kitchen is closed", retryable=True),
    ExpiredEvent(**COMMON, deadline_ms=123),
    CancelledEvent(**COMMON, reason="caller changed the time"),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.type)
def test_every_event_type_round_trips(event: Any) -> None:
    fields = encode(event)
    assert {"v", "type", "task_id", "session_id", "final", "attempt", "body"} <= set(fields)
    assert fields["final"] == (
        "1" if event.type in {"result", "error", "expired", "cancelled"} else "0"
    )
    assert decode_event(fields) == event


def test_task_and_cancel_round_trip() -> None:
    task = TaskRequest.create(
        session_id="s-1",
        request="book a table for four on Friday at eight",
        epoch=3,
        timeout_s=8,
        context=(ContextTurn(role="caller", text="Friday works"),),
        tier="strong",
        tools=("book_table",),
        trace={"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
    )
    assert decode_command(encode(task)) == task
    assert task.idempotency_key == task.task_id
    assert task.deadline_ms - task.created_ms == 8000
    cancel = CancelRequest(task_id=task.task_id, session_id="s-1", reason="superseded")
    assert decode_command(encode(cancel)) == cancel


def test_entries_are_frozen_and_validated() -> None:
    event = StartedEvent(**COMMON, worker="host-1-ab")
    with pytest.raises(ValidationError):
        event.worker = "other"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        StartedEvent(**{**COMMON, "task_id": "has space"})


def test_unknown_fields_are_ignored_so_old_readers_accept_newer_minor_writers() -> None:
    fields = encode(EVENTS[3])
    fields["shiny_new_header"] = "x"
    fields["body"] = fields["body"][:-1] + ',"confidence":0.9}'
    assert decode_event(fields) == EVENTS[3]


@pytest.mark.parametrize("kind", ["answer", "unknown", "needs_detail"])
def test_a_results_kind_round_trips(kind: Any) -> None:
    event = ResultEvent(**COMMON, text="Which day, and for how many?", kind=kind)
    fields = encode(event)
    assert json.loads(fields["body"])["kind"] == kind
    assert decode_event(fields) == event


def test_a_result_without_a_kind_or_with_one_this_reader_does_not_know_is_an_answer() -> None:
    old_writer = encode(EVENTS[3])
    old_writer["body"] = json.dumps({"text": "booked", "data": {}})  # written before the field
    newer_writer = encode(EVENTS[3])
    newer_writer["body"] = json.dumps({"text": "booked", "kind": "apology"})  # a later kind
    for fields in (old_writer, newer_writer):
        decoded = decode_event(fields)
        assert isinstance(decoded, ResultEvent)
        assert decoded.kind == "answer"
    assert ResultEvent(**COMMON, text="booked").kind == "answer"  # the default


def test_an_event_carries_its_trace_context_back_and_one_written_without_reads_as_none() -> None:
    carrier = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
    fields = encode(ResultEvent(**COMMON, text="booked", trace=carrier))
    assert json.loads(fields["body"])["trace"] == carrier
    assert decode_event(fields).trace == carrier
    old_writer = encode(EVENTS[3])
    old_writer["body"] = json.dumps({"text": "booked", "data": {}})  # written before the field
    assert decode_event(old_writer).trace == {}


def test_a_newer_version_is_refused_with_its_own_code() -> None:
    fields = encode(EVENTS[3]) | {"v": str(WIRE_VERSION + 1)}
    with pytest.raises(WireFormatError) as raised:
        decode_event(fields)
    assert raised.value.code == "unsupported_version"


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"v": "1"},
        {"v": "one", "type": "result"},
        {"v": "1", "type": "result", "body": "[1, 2]"},
        {"v": "1", "type": "result", "body": "{" * 5000},
        {"v": "1", "type": "teleport", "task_id": "t", "session_id": "s", "body": "{}"},
        encode(EVENTS[3]) | {"body": "x" * 70_000},
        encode(EVENTS[3]) | {"body": b"\xff".decode("utf-8", "surrogateescape")},
    ],
)
def test_malformed_entries_raise_wire_format_error(fields: dict[str, str]) -> None:
    with pytest.raises(WireFormatError) as raised:
        decode_event(fields)
    assert raised.value.code == "malformed"


def test_writers_refuse_entries_no_reader_would_accept() -> None:
    for number in (float("nan"), float("inf"), float("-inf")):
        with pytest.raises(WireFormatError, match="NaN"):
            encode(ResultEvent(**COMMON, text="x", data={"score": number}))
    with pytest.raises(WireFormatError, match="longer than"):
        encode(ResultEvent(**COMMON, text="x", data={"blob": "y" * 70_000}))


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999", "-1e999"])
def test_readers_reject_numbers_json_cannot_carry(number: str) -> None:
    """Python's json reads NaN and Infinity, and 1e999 as infinity; a body is JSON (RFC 8259)
    with finite numbers, wherever the number is: a result's data, or a field nobody reads."""
    result = encode(EVENTS[3])
    result["body"] = result["body"].replace('"party":4', f'"party":{number}')
    task = encode(TaskRequest.create(session_id="s-1", request="hi", epoch=1, timeout_s=8))
    task["body"] = task["body"].replace("{", f'{{"unknown":[{number}],', 1)
    for fields, decode in ((result, decode_event), (task, decode_command)):
        assert number in fields["body"]
        with pytest.raises(WireFormatError, match="NaN or infinity") as raised:
            decode(fields)
        assert raised.value.code == "malformed"


def test_ids_are_found_even_when_another_field_is_not_utf8() -> None:
    fields = {
        "session_id": "s-1",
        "task_id": "t-1",
        "body": b"\xff".decode("utf-8", "surrogateescape"),
    }
    assert peek_ids(fields) == ("s-1", "t-1")
    assert peek_ids({"session_id": "has space", "task_id": b"t"}) == (None, "t")


field_text = st.one_of(st.text(max_size=40), st.binary(max_size=40))


def _containers_of(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Lists and objects of ``inner`` (a named function: Hypothesis reads a lambda's source to
    check it recurses, and that reading sometimes fails, warning that it does not)."""
    return st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner)


json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    _containers_of,
    max_leaves=20,
)


@st.composite
def field_maps(draw: st.DrawFn) -> dict[Any, Any]:
    fields: dict[Any, Any] = draw(st.dictionaries(field_text, field_text, max_size=8))
    if draw(st.booleans()):  # often shaped like a real entry, to get past the first checks
        fields |= {
            "v": draw(st.sampled_from(["1", "0", "2", "-1", "1.0", "٣"])),
            "type": draw(st.sampled_from(["task", "cancel", "result", "error", "started", "x"])),
            "task_id": draw(st.sampled_from(["t", "", "bad id"])),
            "session_id": "s",
            "body": draw(st.one_of(st.builds(json.dumps, json_like), field_text)),
        }
    return fields


@settings(max_examples=400, deadline=None)
@given(field_maps())
def test_decoders_raise_nothing_but_wire_format_error(fields: dict[Any, Any]) -> None:
    for decode in (decode_command, decode_event):
        with contextlib.suppress(WireFormatError):
            decode(fields)
