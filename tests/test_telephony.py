"""Phone calls: what a dispatch says about the call, when an outbound call was answered, and an
outbound call assembled the production way (its purpose in the instructions, no greeting to a
ringing phone, the opening once the callee picks up)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from livekit.agents import llm

from responder.assembly import assemble_call
from responder.models import SpeechProfile
from responder.prompts import OPEN_OUTBOUND
from responder.telephony.answer import wait_until_answered
from responder.telephony.dispatch import MAX_PURPOSE, DispatchInfo, read_dispatch
from shared.config import BusSettings
from shared.embedded_redis import EmbeddedRedis
from tests.fakes.scripted_llm import ScriptedLLM, Turn
from tests.responder_harness import call_settings, process_models

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ("", DispatchInfo()),
        ("not json", DispatchInfo()),
        ("[1, 2]", DispatchInfo()),
        ('{"profile": "restaurant"}', DispatchInfo(profile="restaurant")),
        (
            '{"profile": "restaurant", "purpose": "confirm  the\\nbooking", '
            '"direction": "outbound"}',
            DispatchInfo("restaurant", "confirm the booking", "outbound"),
        ),
        ('{"direction": "sideways", "profile": 7}', DispatchInfo()),
    ],
)
def test_dispatch_metadata_is_read_leniently(metadata: str, expected: DispatchInfo) -> None:
    assert read_dispatch(metadata) == expected


def test_a_long_purpose_is_cut() -> None:
    info = read_dispatch('{"purpose": "' + "x" * 2000 + '"}')
    assert len(info.purpose) == MAX_PURPOSE


@dataclass
class Callee:
    identity: str
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass
class Room:
    """What ``wait_until_answered`` needs of a room: subscribing to its events."""

    handlers: dict[str, list[Callable[..., Any]]] = field(default_factory=dict)

    def on(self, event: Any, callback: Callable[..., Any] | None = None) -> Any:
        assert callback is not None
        self.handlers.setdefault(event, []).append(callback)
        return callback

    def off(self, event: Any, callback: Callable[..., Any]) -> None:
        self.handlers[event].remove(callback)

    def emit(self, event: str, *args: Any) -> None:
        for handler in list(self.handlers.get(event, [])):
            handler(*args)


async def test_the_call_is_answered_when_the_callee_becomes_active() -> None:
    room, callee = Room(), Callee("phone-callee", {"sip.callStatus": "ringing"})
    waiting = asyncio.ensure_future(wait_until_answered(room, callee, 30))
    await asyncio.sleep(0)
    room.emit("participant_attributes_changed", {}, Callee("someone-else", {}))
    callee.attributes["sip.callStatus"] = "active"
    changed: Mapping[str, str] = {"sip.callStatus": "active"}
    room.emit("participant_attributes_changed", changed, callee)
    assert await waiting is True
    assert room.handlers == {"participant_attributes_changed": [], "participant_disconnected": []}


async def test_a_callee_who_hangs_up_or_never_answers_is_not_answered() -> None:
    room, callee = Room(), Callee("phone-callee", {"sip.callStatus": "ringing"})
    waiting = asyncio.ensure_future(wait_until_answered(room, callee, 30))
    await asyncio.sleep(0)
    room.emit("participant_disconnected", callee)
    assert await waiting is False
    assert await wait_until_answered(Room(), Callee("phone-callee"), 0.01) is False


async def test_an_answered_callee_needs_no_wait() -> None:
    assert await wait_until_answered(Room(), Callee("c", {"sip.callStatus": "active"}), 0)


async def test_an_outbound_call_opens_only_when_answered_and_knows_why_it_calls(
    redis_server: EmbeddedRedis, settings: BusSettings
) -> None:
    model = ScriptedLLM([Turn("Hi, this is Test Desk, calling to confirm your booking.")])
    dispatch = DispatchInfo("test-desk", "confirm tomorrow's booking", "outbound")
    async with httpx.AsyncClient() as http:
        call = await assemble_call(
            call_settings(redis_server.url, settings),
            process_models(http),
            session_id=f"out-{uuid.uuid4().hex[:8]}",
            speech=SpeechProfile("realtime", llm=model),
            dispatch=dispatch,
        )
        await call.start()
        try:
            await call.session.wait_for_idle()
            said_before = _agent_lines(call.session.history.items)
            spoke = asyncio.Event()
            call.session.on(
                "conversation_item_added",
                lambda event: (
                    spoke.set() if getattr(event.item, "role", "") == "assistant" else None
                ),
            )
            call.open_outbound()
            await spoke.wait()
            await call.session.wait_for_idle()
            said = _agent_lines(call.session.history.items)
            instructions = str(call.agent.instructions)
        finally:
            await call.aclose()

    assert said_before == [], "no greeting to a ringing phone"
    assert said == ["Hi, this is Test Desk, calling to confirm your booking."]
    assert "confirm tomorrow's booking" in instructions
    assert "you are calling someone on behalf of Test Desk" in instructions
    (asked,) = model.contexts
    assert OPEN_OUTBOUND in str([item for item in asked.items if item.type == "message"])
    assert any(e["event"] == "callee_answered" for e in call.journal.events)


def _agent_lines(items: list[llm.ChatItem]) -> list[str]:
    return [
        item.text_content or ""
        for item in items
        if isinstance(item, llm.ChatMessage) and item.role == "assistant"
    ]
