"""``tandem call``: the requests it makes to LiveKit's server API, checked on a protocol-compatible
fake (Twirp with protobuf bodies; the real ``livekit-api`` client), and its refusals."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from click.testing import CliRunner, Result

from responder.call_cli import call_command, masked, phone_number
from tests.fakes.livekit_api import KEY, SECRET, Failure, FakeLiveKitAPI

NUMBER = "+15551234567"
TRUNK = "ST_outbound_fake"


@contextmanager
def fake_api(fail: dict[str, str | Failure] | None = None) -> Iterator[FakeLiveKitAPI]:
    """The fake served from a thread's own loop (the command runs ``asyncio.run`` itself)."""
    fake = FakeLiveKitAPI(fail=fail)
    loop = asyncio.new_event_loop()
    started, stop = threading.Event(), asyncio.Event()

    async def serve() -> None:
        async with fake:
            started.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    started.wait(10)
    try:
        yield fake
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()


def call(fake: FakeLiveKitAPI, *args: str, trunk: str | None = TRUNK, **env: str) -> Result:
    environment = {
        "LIVEKIT_URL": fake.url,
        "LIVEKIT_API_KEY": KEY,
        "LIVEKIT_API_SECRET": SECRET,
        "TANDEM_LOG_FORMAT": "text",
        **env,
    }
    if trunk is not None:
        environment["TANDEM_SIP_OUTBOUND_TRUNK_ID"] = trunk
    return CliRunner().invoke(call_command, list(args), env=environment)


def test_a_call_dispatches_the_agent_then_dials_through_the_trunk() -> None:
    with fake_api() as fake:
        result = call(
            fake,
            "+1 (555) 123-4567",
            "--profile",
            "restaurant",
            "--purpose",
            "confirm tomorrow's booking",
            "--metadata",
            '{"booking": "TT-4821"}',
        )

    assert result.exit_code == 0, result.output
    assert [r.method for r in fake.requests] == [
        "livekit.AgentDispatchService/CreateDispatch",
        "livekit.SIP/CreateSIPParticipant",
    ]
    (dispatch,) = fake.bodies("livekit.AgentDispatchService/CreateDispatch")
    (dial,) = fake.bodies("livekit.SIP/CreateSIPParticipant")
    assert dispatch.agent_name == "tandem"
    assert json.loads(dispatch.metadata) == {
        "booking": "TT-4821",
        "profile": "restaurant",
        "purpose": "confirm tomorrow's booking",
        "direction": "outbound",
    }
    assert dial.room_name == dispatch.room
    assert dial.room_name.startswith("call-")
    assert "5551234567" not in dial.room_name
    assert (dial.sip_trunk_id, dial.sip_call_to) == (TRUNK, NUMBER)
    assert NUMBER not in result.output
    assert masked(NUMBER) in result.output


@pytest.mark.parametrize("bad", ["5551234567", "+0123456789", "+1 555 CALL NOW", "+1"])
def test_a_number_that_is_not_e164_is_refused_before_anything_is_sent(bad: str) -> None:
    with fake_api() as fake:
        result = call(fake, bad)
    assert result.exit_code == 2
    assert "E.164" in result.output
    assert fake.requests == []


def test_metadata_that_is_not_a_json_object_is_refused() -> None:
    with fake_api() as fake:
        result = call(fake, NUMBER, "--metadata", "[1, 2]")
    assert result.exit_code == 2
    assert "--metadata must be a JSON object" in result.output
    assert fake.requests == []


def test_without_an_outbound_trunk_it_says_which_setting_is_missing() -> None:
    with fake_api() as fake:
        result = call(fake, NUMBER, trunk=None)
    assert result.exit_code == 1
    assert "TANDEM_SIP_OUTBOUND_TRUNK_ID is not set" in result.output
    assert fake.requests == []


def test_a_refused_dial_is_one_line_without_the_number() -> None:
    with fake_api(fail={"livekit.SIP/CreateSIPParticipant": "unavailable"}) as fake:
        result = call(fake, NUMBER)
    assert result.exit_code == 1
    assert "LiveKit refused the call" in result.output
    assert "Traceback" not in result.output
    assert "5551234567" not in result.output


def test_a_number_is_normalised_and_masked() -> None:
    assert phone_number("+44 20 7946 0958") == "+442079460958"
    assert masked("+442079460958") == "+4•••••••••58"
