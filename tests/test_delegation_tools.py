"""The tool adapter's own decisions: how a model-written task number is read, and that the tools
tell the model the words kept in :mod:`responder.prompts`."""

from __future__ import annotations

import pytest

from responder import prompts
from responder.delegate_tool import cancel_schema, delegate_schema, task_number


@pytest.mark.parametrize(
    ("written", "number"),
    [
        (2, 2),
        (2.0, 2),
        ("3", 3),
        (" #4 ", 4),
        (True, None),
        (2.5, None),
        ("two", None),
        (None, None),
    ],
)
def test_a_task_number_is_read_however_the_model_wrote_it(
    written: object, number: int | None
) -> None:
    assert task_number(written) == number


def test_the_tool_schemas_carry_the_words_from_the_prompts_module() -> None:
    delegate = delegate_schema()
    assert delegate["description"] == prompts.DELEGATE_DESCRIPTION
    properties = delegate["parameters"]["properties"]
    assert {name: p["description"] for name, p in properties.items()} == prompts.DELEGATE_PARAMETERS
    assert delegate["parameters"]["required"] == ["request"]
    cancel = cancel_schema()
    assert cancel["description"] == prompts.CANCEL_DESCRIPTION
    assert cancel["parameters"]["required"] == ["task"]


def test_what_delegate_returns_names_the_task_and_the_one_it_stopped() -> None:
    assert prompts.task_started(2) == (
        "Task 2 started. Its answer will arrive as a separate tool output; do not guess it."
    )
    assert "Task 1 was stopped; nothing from it will be said." in prompts.task_started(2, 1)
