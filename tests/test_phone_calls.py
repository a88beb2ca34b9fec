"""Calls on a phone line, assembled the production way (``assemble_call`` with a
:class:`PhoneHookup` built by the worker's own :func:`phone_hookup` from a simulated SIP
participant), with transfers and hang-up going to a protocol-compatible fake of LiveKit's server
API (the real ``livekit-api`` client over a socket) and keys arriving as LiveKit's
``SipDTMF`` events: the phone greeting and turn settings, keys into the conversation, the
transfer allowlist, honest failures, hang-up, voicemail, and the caller's number kept out of
logs and records."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from livekit import rtc
from livekit.agents import llm
from pydantic import SecretStr
from redis.asyncio import Redis

from responder.assembly import ProcessModels, assemble_call
from responder.call import Call
from responder.metrics import ResponderMetrics
from responder.models import SpeechProfile
from responder.prompts import OPEN_OUTBOUND, say_verbatim
from responder.session.store import SessionStore
from responder.telephony.dispatch import DispatchInfo
from responder.telephony.keypad import keyed_turn
from responder.telephony.phone import phone_hookup
from responder.worker import hang_up_after
from shared.config import BusSettings, Settings, SipSettings
from shared.embedded_redis import EmbeddedRedis
from shared.keys import Keys
from shared.profile import Profile, load_profile
from tests.fakes.livekit_api import KEY, SECRET, Failure, FakeLiveKitAPI
from tests.fakes.scripted_llm import ScriptedLLM, Turn
from tests.responder_harness import call_settings, shared_vad
from tools import ToolRegistry

pytestmark = pytest.mark.timeout(60)

PHONE_DESK = Path(__file__).parent / "data" / "profiles" / "phone-desk"
CALLER_NUMBER = "+15559876543"
ROOM = "call-room-1"
TRANSFER = "livekit.SIP/TransferSIPParticipant"
DELETE_ROOM = "livekit.RoomService/DeleteRoom"
WARM_TRUNK = "ST_outbound_test"


@dataclass
class SipParticipant:
    """A simulated LiveKit SIP participant (what ``rtc.RemoteParticipant`` shows of one)."""

    identity: str = "sip_caller"
    kind: Any = rtc.ParticipantKind.PARTICIPANT_KIND_SIP
    attributes: dict[str, str] = field(
        default_factory=lambda: {
            "sip.phoneNumber": CALLER_NUMBER,
            "sip.trunkPhoneNumber": "+15550001111",
            "sip.callID": "SCL_test1",
            "sip.ruleID": "SDR_test1",
            "sip.callStatus": "active",
        }
    )


@dataclass
class Room:
    """What the worker reads of the job's room: its name and local participant (keys out)."""

    name: str = ROOM
    local_participant: Any = None


@dataclass
class KeysOut:
    """The room's local participant, recording the keys it publishes."""

    sent: list[tuple[int, str]] = field(default_factory=list)

    async def publish_dtmf(self, *, code: int, digit: str) -> None:
        self.sent.append((code, digit))


@dataclass
class PhoneCallUnderTest:
    call: Call
    api: FakeLiveKitAPI
    model: ScriptedLLM
    keys_out: KeysOut

    def journal(self, source: str = "phone") -> list[dict[str, Any]]:
        return [e for e in self.call.journal.events if e["source"] == source]

    async def caller_says(self, text: str) -> None:
        await self.call.session.generate_reply(user_input=text)
        await self.call.session.wait_for_idle()


def phone_profile() -> Profile:
    return load_profile(PHONE_DESK)


@asynccontextmanager
async def phone_call(
    redis_url: str,
    bus: BusSettings,
    turns: list[Turn],
    *,
    fail: dict[str, str | Failure] | None = None,
    caller: SipParticipant | None = None,
    dispatch: DispatchInfo | None = None,
    greet: bool = True,
) -> AsyncIterator[PhoneCallUnderTest]:
    model = ScriptedLLM(turns)
    keys_out = KeysOut()
    async with FakeLiveKitAPI(fail=fail) as api, httpx.AsyncClient() as http:
        settings = call_settings(redis_url, bus).model_copy(
            update={
                "livekit_url": api.url,
                "livekit_api_key": SecretStr(KEY),
                "livekit_api_secret": SecretStr(SECRET),
                "sip": SipSettings(outbound_trunk_id=WARM_TRUNK),
            }
        )
        models = ProcessModels(
            phone_profile(), shared_vad(), None, ResponderMetrics(), ToolRegistry.discover(), http
        )
        dispatch = dispatch or DispatchInfo()
        hookup = phone_hookup(
            settings, Room(local_participant=keys_out), caller or SipParticipant(), dispatch
        )
        call = await assemble_call(
            settings,
            models,
            session_id=f"phone-{uuid.uuid4().hex[:8]}",
            speech=SpeechProfile("realtime", llm=model),
            dispatch=dispatch,
            phone=hookup,
            greet=greet,
        )
        await call.start()
        try:
            await call.session.wait_for_idle()
            yield PhoneCallUnderTest(call, api, model, keys_out)
        finally:
            await call.aclose()
            if hookup is not None and hookup.switchboard is not None:
                await hang_up_after(call, hookup.switchboard)


def _agent_replied(call: Call) -> asyncio.Event:
    """Set once the agent adds a reply to the conversation."""
    replied = asyncio.Event()
    call.session.on(
        "conversation_item_added",
        lambda e: replied.set() if getattr(e.item, "role", "") == "assistant" else None,
    )
    return replied


def _messages(context: llm.ChatContext) -> str:
    return "\n".join(item.text_content or "" for item in context.items if item.type == "message")


def _outputs(context: llm.ChatContext) -> list[str]:
    return [item.output for item in context.items if item.type == "function_call_output"]


def _tool_names(call: Call) -> set[str]:
    return {tool.info.name for tool in call.agent.tools}  # type: ignore[union-attr]


async def test_a_phone_caller_hears_the_phone_greeting_on_phone_turn_settings(
    redis_server: EmbeddedRedis, settings: BusSettings
) -> None:
    greeting = phone_profile().spec.telephony.greeting
    assert greeting is not None
    async with phone_call(redis_server.url, settings, [Turn(greeting)]) as phone:
        options = phone.call.session.options
        tools = _tool_names(phone.call)
        line = phone.call.phone.line if phone.call.phone else None
        recorded = [e for e in phone.journal() if e["event"] == "line"]

    assert say_verbatim(greeting) in _messages(phone.model.contexts[0])
    assert {"transfer_call", "press_keys", "end_call"} <= tools
    assert options.interruption["min_duration"] == 0.9  # [telephony.turns], not the worker's
    assert options.user_away_timeout == 12
    assert line is not None
    assert line.direction == "inbound"
    assert line.call_id == "SCL_test1"
    assert [(e["direction"], e["call_id"]) for e in recorded] == [("inbound", "SCL_test1")]
    assert CALLER_NUMBER not in repr(line)


async def test_a_browser_caller_gets_no_phone_line(
    redis_server: EmbeddedRedis, settings: BusSettings
) -> None:
    browser = SipParticipant(identity="web", attributes={})
    browser.kind = rtc.ParticipantKind.PARTICIPANT_KIND_STANDARD
    settings_ = call_settings(redis_server.url, settings)
    assert phone_hookup(settings_, Room(), browser, DispatchInfo()) is None


async def test_keys_pressed_are_the_callers_turn(
    redis_server: EmbeddedRedis, settings: BusSettings
) -> None:
    turns = [Turn("Ticket 4127, one moment.")]
    async with phone_call(redis_server.url, settings, turns, greet=False) as phone:
        assert phone.call.phone is not None
        replied = _agent_replied(phone.call)
        phone.call.control.idle._nudges = 1  # a nudge was unanswered before the keys
        for digit in "4127#":
            phone.call.phone.dtmf_received(rtc.SipDTMF(code=0, digit=digit, participant=None))
        await replied.wait()
        nudges = phone.call.control.idle.nudges
        keyed = phone.journal()

    assert keyed_turn("4127#") in _messages(phone.model.contexts[-1])
    assert [e["keys"] for e in keyed if e["event"] == "keys"] == ["4127#"]
    assert nudges == 0, "a key press is the caller being there"


async def test_keys_without_the_end_key_end_with_a_pause(
    redis_server: EmbeddedRedis, settings: BusSettings
) -> None:
    turns = [Turn("Press one, got it.")]
    async with phone_call(redis_server.url, settings, turns, greet=False) as phone:
        assert phone.call.phone is not None
        other = SipParticipant(identity="someone_else")
        phone.call.phone.dtmf_received(rtc.SipDTMF(code=9, digit="9", participant=other))  # type: ignore[arg-type]
        phone.call.phone.dtmf_received(rtc.SipDTMF(code=1, digit="1", participant=None))
        replied = _agent_replied(phone.call)
        await replied.wait()
        keyed = [e["keys"] for e in phone.journal() if e["event"] == "keys"]

    assert keyed == ["1"], "one entry, after the pause; another participant's key is not theirs"


async def test_the_agent_presses_phone_keys_and_nothing_else(
    redis_server: EmbeddedRedis, settings: BusSettings
) -> None:
    turns = [
        Turn("Pressing two for bookings.", [("press_keys", {"keys": "2"})]),
        Turn("I'm through to bookings."),
        Turn(None, [("press_keys", {"keys": "dial +1 555"})]),
        Turn("Those aren't keys I can press."),
    ]
    async with phone_call(redis_server.url, settings, turns, greet=False) as phone:
        await phone.caller_says("(a menu) For bookings, press two.")
        await phone.caller_says("Please enter your booking number.")
        sent = [e for e in phone.journal() if e["event"] == "keys_sent"]

    assert phone.keys_out.sent == [(2, "2")], "only phone keys were sent"
    assert [e["count"] for e in sent] == [1]
    outputs = _outputs(phone.model.contexts[-1])
    assert any(o.startswith("Pressed 2") for o in outputs)
    assert any("Could not press those keys" in o for o in outputs)


async def test_the_model_can_only_transfer_to_the_profiles_list(
    redis_server: EmbeddedRedis, settings: BusSettings
) -> None:
    injected = "tel:+19005550199"  # as a tool output or the caller might have put it
    turns = [
        Turn(None, [("transfer_call", {"target": injected, "caller_confirmed": True})]),
        Turn("I can only transfer you to our front desk."),
        Turn(None, [("transfer_call", {"target": "+19005550199", "caller_confirmed": True})]),
        Turn("Sorry, I can't do that."),
    ]
    async with phone_call(redis_server.url, settings, turns, greet=False) as phone:
        await phone.caller_says(f"Transfer me to {injected} please")
        await phone.caller_says("Then dial +1 900 555 0199")
        refused = [e for e in phone.journal() if e["event"] == "transfer_refused"]

    assert phone.api.bodies(TRANSFER) == [], "nothing was dialled"
    assert [e["reason"] for e in refused] == ["not_listed", "not_listed"]
    assert "0199" not in json.dumps(refused), "what was asked is not journalled"
    outputs = _outputs(phone.model.contexts[1])
    assert any("front desk" in o and "not a place" in o for o in outputs)


async def test_a_number_in_a_tool_output_cannot_be_dialled(
    redis_server: EmbeddedRedis, settings: BusSettings
) -> None:
    """The knowledge file (as any tool output) says to transfer to a number of its own: the
    model, following it, is refused; only the profile's list can be dialled."""
    turns = [
        Turn(None, [("search_knowledge", {"query": "I have a complaint"})]),
        Turn(None, [("transfer_call", {"target": "tel:+19005550199", "caller_confirmed": True})]),
        Turn("Let me put you through to the front desk instead, if you'd like."),
    ]
    async with phone_call(redis_server.url, settings, turns, greet=False) as phone:
        await phone.caller_says("I have a complaint, put me through")
        refused = [e for e in phone.journal() if e["event"] == "transfer_refused"]

    outputs = _outputs(phone.model.contexts[-1])
    assert any("+19005550199" in o for o in outputs), "the injected number reached the model"
    assert phone.api.bodies(TRANSFER) == [], "nothing was dialled"
    assert [e["reason"] for e in refused] == ["not_listed"]
    assert any("not a place" in o for o in outputs)


async def test_a_transfer_waits_for_the_callers_yes(
    redis_server: EmbeddedRedis, settings: BusSettings
) -> None:
    turns = [
        Turn(None, [("transfer_call", {"target": "front desk", "caller_confirmed": False})]),
        Turn("Would you like me to put you through to the front desk?"),
    ]
    async with phone_call(redis_server.url, settings, turns, greet=False) as phone:
        await phone.caller_says("Can I talk to someone?")

    assert phone.api.bodies(TRANSFER) == []
    assert any("ask the caller" in o for o in _outputs(phone.model.contexts[1]))


async def test_a_confirmed_cold_transfer_hands_the_call_over_and_keeps_the_room(
    redis_server: EmbeddedRedis, settings: BusSettings
) -> None:
    turns = [
        Turn(
            "Putting you through to the front desk now.",
            [("transfer_call", {"target": "Front Desk", "caller_confirmed": True})],
        )
    ]
    async with phone_call(redis_server.url, settings, turns, greet=False) as phone:
        await phone.call.session.generate_reply(user_input="Yes please, put me through")
        await asyncio.wait_for(phone.call.ended.wait(), 30)
        events = [e["event"] for e in phone.call.journal.events]

    (request,) = phone.api.bodies(TRANSFER)
    assert (request.room_name, request.participant_identity, request.transfer_to) == (
        ROOM,
        "sip_caller",
        "tel:+15551230000",
    )
    assert phone.call.end_reason == "transferred"
    assert events.index("transfer_started") < events.index("transferred")
    assert "hold_started" in events
    assert "hold_ended" in events
    assert phone.api.bodies(DELETE_ROOM) == [], "the caller is with the front desk now"


async def test_a_failed_transfer_is_told_honestly_and_the_call_goes_on(
    redis_server: EmbeddedRedis, settings: BusSettings
) -> None:
    busy = Failure("failed_precondition", {"sip_status_code": "486", "sip_status": "Busy Here"})
    turns = [
        Turn(None, [("transfer_call", {"target": "front desk", "caller_confirmed": True})]),
        Turn("I'm sorry, the front desk line is busy. Can I take a message?"),
    ]
    async with phone_call(
        redis_server.url, settings, turns, fail={TRANSFER: busy}, greet=False
    ) as phone:
        await phone.caller_says("Yes, transfer me")
        ended = phone.call.ended.is_set()
        failed = [e for e in phone.journal() if e["event"] == "transfer_failed"]

    assert not ended
    assert [e["code"] for e in failed] == ["486"]
    (told,) = [o for o in _outputs(phone.model.contexts[-1]) if "did not go through" in o]
    assert "the line was busy" in told
    assert "still with you" in told


async def test_a_warm_transfer_that_cannot_start_is_told_honestly(
    redis_server: EmbeddedRedis, settings: BusSettings
) -> None:
    """Outside a LiveKit job (no room to hold the consultation in) LiveKit's WarmTransferTask
    cannot dial: the caller is told, and is back from hold."""
    call_turns = [
        Turn(
            None,
            [
                (
                    "transfer_call",
                    {
                        "target": "manager",
                        "caller_confirmed": True,
                        "warm": True,
                        "brief": "Caller unhappy with a booking.",
                    },
                )
            ],
        ),
        Turn("I couldn't reach the manager just now."),
    ]
    async with phone_call(redis_server.url, settings, call_turns, greet=False) as phone:
        assert phone.call.phone is not None
        assert phone.call.phone.transfers is not None
        await phone.caller_says("I want the manager")
        held = phone.call.control.state.on_hold

    assert not held
    assert any("did not go through" in o for o in _outputs(phone.model.contexts[-1]))


async def test_end_call_says_goodbye_then_deletes_the_room(
    redis_server: EmbeddedRedis, settings: BusSettings
) -> None:
    goodbye = phone_profile().persona.goodbye
    turns = [Turn(None, [("end_call", {})]), Turn(goodbye)]
    async with phone_call(redis_server.url, settings, turns, greet=False) as phone:
        await phone.call.session.generate_reply(user_input="That's all, thanks, bye")
        await asyncio.wait_for(phone.call.ended.wait(), 30)
        stored = await _stored_record(redis_server.url, settings, phone.call.session_id)

    assert phone.call.end_reason == "completed"
    assert say_verbatim(goodbye) in _messages(phone.model.contexts[-1])
    (deleted,) = phone.api.bodies(DELETE_ROOM)
    assert deleted.room == ROOM
    assert stored["end_reason"] == "completed"


async def test_an_answering_machine_gets_the_profiles_message_then_the_call_ends(
    redis_server: EmbeddedRedis, settings: BusSettings
) -> None:
    message = "Hello, this is Phone Desk calling about your booking. Please call us back. Goodbye."
    callee = SipParticipant(identity="callee", attributes={"sip.callStatus": "active"})
    outbound = DispatchInfo("phone-desk", "confirm a booking", "outbound")
    async with phone_call(
        redis_server.url, settings, [Turn(message)], caller=callee, dispatch=outbound
    ) as phone:
        assert phone.call.phone is not None
        assert phone.call.phone.line.direction == "outbound"
        phone.call.phone.pickup.answered()
        phone.call.phone.pickup.callee_speaking(True)
        phone.call.phone.pickup.callee_said(
            "Hi, you've reached Dana. I can't take your call right now, please leave a "
            "message after the tone."
        )
        phone.call.phone.pickup.callee_speaking(False)
        await asyncio.wait_for(phone.call.ended.wait(), 30)
        screened = [e for e in phone.journal() if e["event"] == "screened"]

    assert phone.call.end_reason == "voicemail"
    assert [e["verdict"] for e in screened] == ["machine"]
    assert say_verbatim(message) in _messages(phone.model.contexts[-1])
    assert len(phone.api.bodies(DELETE_ROOM)) == 1, "then it hangs up"


async def test_a_person_who_answers_is_talked_to(
    redis_server: EmbeddedRedis, settings: BusSettings
) -> None:
    callee = SipParticipant(identity="callee", attributes={"sip.callStatus": "active"})
    outbound = DispatchInfo("phone-desk", "confirm a booking", "outbound")
    async with phone_call(redis_server.url, settings, [], caller=callee, dispatch=outbound) as p:
        assert p.call.phone is not None
        p.call.phone.pickup.answered()
        p.call.phone.pickup.callee_speaking(True)
        p.call.phone.pickup.callee_said("Hello? Who's calling?")
        p.call.phone.pickup.callee_speaking(False)
        screened = [e for e in p.journal() if e["event"] == "screened"]
        ended = p.call.ended.is_set()

    assert [e["verdict"] for e in screened] == ["human"]
    assert not ended


async def test_a_callee_who_says_nothing_is_greeted_by_the_agent(
    redis_server: EmbeddedRedis, settings: BusSettings
) -> None:
    callee = SipParticipant(identity="callee", attributes={"sip.callStatus": "active"})
    outbound = DispatchInfo("phone-desk", "confirm a booking", "outbound")
    opening = "Hi, this is Phone Desk calling to confirm your booking. Is now a good time?"
    async with phone_call(
        redis_server.url, settings, [Turn(opening)], caller=callee, dispatch=outbound
    ) as phone:
        assert phone.call.phone is not None
        replied = _agent_replied(phone.call)
        phone.call.phone.pickup.answered()
        await replied.wait()
        events = [e["event"] for e in phone.call.journal.events]

    assert events.index("answered") < events.index("callee_answered")
    assert OPEN_OUTBOUND in _messages(phone.model.contexts[-1])


async def test_the_callers_number_is_in_no_log_and_no_record(
    redis_server: EmbeddedRedis, settings: BusSettings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    turns = [
        Turn("Phone Desk, you're through to the assistant. How can I help?"),
        Turn(None, [("transfer_call", {"target": "front desk", "caller_confirmed": True})]),
        Turn("Sorry, that didn't work."),
    ]
    busy = Failure("failed_precondition", {"sip_status_code": "486"})
    async with phone_call(
        redis_server.url, settings, turns, fail={TRANSFER: busy}, greet=False
    ) as phone:
        await phone.caller_says("my number is 555 987 6543, put me through")
        session_id = phone.call.session_id
    stored = await _stored_record(redis_server.url, settings, session_id)

    digits = CALLER_NUMBER[2:]
    assert digits not in caplog.text
    assert CALLER_NUMBER not in caplog.text
    assert digits not in json.dumps(stored)
    assert "987 6543" not in json.dumps(stored)


async def _stored_record(redis_url: str, bus: BusSettings, session_id: str) -> dict[str, Any]:
    """The call's stored record, its journal under ``events``."""
    redis = Redis.from_url(redis_url, decode_responses=True)
    try:
        loaded = await SessionStore(redis, Keys(bus.prefix), 3600).load(session_id)
    finally:
        await redis.aclose()
    assert loaded is not None, "no record stored"
    record, events = loaded
    return dict(record) | {"events": events}


def test_phone_settings_change_only_what_the_profile_sets() -> None:
    from responder.assembly import phone_settings

    base = Settings(_env_file=None)
    phone = phone_settings(base, phone_profile())
    assert phone.responder.min_interruption_s == 0.9
    assert phone.responder.idle_nudge_s == 12
    assert phone.responder.eagerness == base.responder.eagerness
    assert phone.responder.endpointing_s == base.responder.endpointing_s
