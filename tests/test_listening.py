"""The hint the speech-to-text gets about the caller's next words (responder/listening.py)."""

from __future__ import annotations

from livekit.agents import llm

from responder.listening import SPELLING_PROMPT, transcript_prompt


def conversation(*lines: tuple[str, str]) -> list[llm.ChatItem]:
    """Chat items of (role, text) lines."""
    return [llm.ChatMessage(role=role, content=[text]) for role, text in lines]


def test_after_the_agent_asks_for_a_spelling_the_caller_is_expected_to_spell() -> None:
    items = conversation(
        ("assistant", "How can I help?"),
        ("user", "A table for two at eight, the name's Nguyen."),
        ("assistant", "It's free. Could you spell the name for me, please?"),
    )
    assert transcript_prompt(items) == SPELLING_PROMPT


def test_no_hint_once_the_caller_answered_or_when_nothing_was_asked_to_be_spelled() -> None:
    answered = conversation(
        ("assistant", "Could you spell the name for me, please?"),
        ("user", "N-G-U-Y-E-N."),
    )
    assert transcript_prompt(answered) is None
    assert transcript_prompt(conversation(("assistant", "What name is it under?"))) is None
    assert transcript_prompt([]) is None
