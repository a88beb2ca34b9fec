"""Caller silence: the agent asks whether the caller is still there (in two wordings), never while
it is busy for them, and after the last unanswered nudge says goodbye and ends the call, surely
even when the goodbye is never heard. Time is a virtual clock: nothing here waits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from responder.floor import Priority
from responder.session.idle import IdlePolicy, IdleWatch
from shared.config import ResponderSettings, SessionSettings, Settings
from shared.profile import PersonaSpec, Profile, ProfileSpec
from tests.fakes.session import Ends, Floor, Journal, VirtualClock

POLICY = IdlePolicy(
    max_nudges=2,
    goodbye_grace_s=6,
    still_there="Are you still there?",
    still_there_again="Sorry, I can't hear you. Are you still on the line?",
    goodbye="I'll let you go now. Goodbye!",
)


@dataclass
class Rig:
    """An idle watch with everything it talks to."""

    clock: VirtualClock
    journal: Journal
    floor: Floor
    ends: Ends
    watch: IdleWatch
    busy: str | None = None
    timer_resets: int = 0

    def reset_timer(self) -> None:
        self.timer_resets += 1

    def said(self) -> list[str | None]:
        return [u.text for u in self.floor.posted]

    def nudge_and_answer_nothing(self) -> None:
        self.watch.caller_away()
        self.floor.speak(self.floor.last())


def make_rig(policy: IdlePolicy = POLICY) -> Rig:
    clock = VirtualClock()
    journal, floor, ends = Journal(clock), Floor(), Ends()
    rig: Rig
    watch = IdleWatch(
        policy,
        post=floor.post,
        emit=journal.emit,
        end_call=ends.end_call,
        reset_timer=lambda: rig.reset_timer(),
        busy=lambda: rig.busy,
        clock=clock,
        sleep=clock.sleep,
    )
    rig = Rig(clock, journal, floor, ends, watch)
    return rig


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    made = make_rig()
    yield made
    await made.watch.aclose()


async def test_the_second_nudge_is_worded_unlike_the_first_and_they_alternate() -> None:
    rig = make_rig(IdlePolicy(4, 6, "Still there?", "Hello, can you hear me?", "Bye."))
    for _ in range(4):
        rig.nudge_and_answer_nothing()
    assert rig.said() == [
        "Still there?",
        "Hello, can you hear me?",
        "Still there?",
        "Hello, can you hear me?",
    ]
    assert [e.fields for e in rig.journal.entries] == [{"number": n} for n in (1, 2, 3, 4)]
    assert rig.timer_resets == 4, "a nudge heard starts watching the next silence"
    nudge = rig.floor.last()
    assert nudge.priority is Priority.GUIDANCE
    assert not nudge.repeat_if_cut
    await rig.watch.aclose()


@pytest.mark.parametrize("because", ["task", "transfer", "speaking", "floor"])
async def test_no_nudge_while_the_agent_is_busy_for_the_caller(rig: Rig, because: str) -> None:
    rig.busy = because
    rig.watch.caller_away()
    assert rig.floor.posted == []
    assert rig.journal.one("idle", "nudge_suppressed").fields == {"because": because}
    assert rig.timer_resets == 1, "the next silence is watched"
    assert rig.watch.nudges == 0


async def test_no_nudge_on_hold_and_silence_counts_afresh_after_it(rig: Rig) -> None:
    rig.nudge_and_answer_nothing()
    rig.watch.hold_started()
    rig.watch.caller_away()
    assert rig.journal.entries[-1].fields == {"because": "hold"}
    rig.watch.hold_ended()
    assert rig.watch.nudges == 0
    rig.watch.caller_away()
    assert rig.said()[-1] == POLICY.still_there


async def test_after_the_last_unanswered_nudge_the_call_closes_for_silence(rig: Rig) -> None:
    rig.nudge_and_answer_nothing()
    rig.nudge_and_answer_nothing()
    await rig.clock.advance(8)
    rig.watch.caller_away()
    assert rig.journal.events() == ["idle.nudge", "idle.nudge", "idle.closing"]
    goodbye = rig.floor.last()
    assert goodbye.text == POLICY.goodbye
    assert rig.ends.reasons == []
    rig.floor.speak(goodbye)
    assert rig.journal.one("idle", "ended").fields == {"reason": "caller_silent"}
    assert rig.ends.reasons == ["caller_silent"]
    await rig.clock.advance(60)
    rig.watch.caller_away()
    assert rig.ends.reasons == ["caller_silent"], "ended once"
    assert len(rig.floor.posted) == 3


async def test_a_goodbye_for_silence_never_heard_still_ends_the_call(rig: Rig) -> None:
    rig.nudge_and_answer_nothing()
    rig.nudge_and_answer_nothing()
    rig.watch.caller_away()
    closing_at = rig.journal.one("idle", "closing").at
    await rig.clock.advance(5.9)
    assert rig.ends.reasons == []
    await rig.clock.advance(0.1)
    assert rig.journal.one("idle", "hard_stop").at == closing_at + 6
    assert rig.ends.reasons == ["caller_silent"]


async def test_a_caller_who_speaks_starts_the_count_again(rig: Rig) -> None:
    rig.nudge_and_answer_nothing()
    rig.nudge_and_answer_nothing()
    rig.watch.caller_spoke()
    rig.watch.caller_away()
    assert rig.said()[-1] == POLICY.still_there
    assert rig.journal.events()[-1] == "idle.nudge"


async def test_a_caller_who_speaks_up_before_the_goodbye_is_not_hung_up_on(rig: Rig) -> None:
    rig.nudge_and_answer_nothing()
    rig.nudge_and_answer_nothing()
    rig.watch.caller_away()
    goodbye = rig.floor.last()
    rig.watch.caller_spoke()
    assert goodbye.is_stale(), "the floor drops it"
    await rig.clock.advance(60)
    assert rig.ends.reasons == []
    assert rig.journal.events()[-2:] == ["idle.closing", "idle.close_cancelled"]


async def test_a_nudge_overtaken_by_the_caller_speaking_is_not_said(rig: Rig) -> None:
    rig.watch.caller_away()
    rig.watch.caller_spoke()
    assert rig.floor.last().is_stale()


async def test_no_nudges_configured_means_never_nudging() -> None:
    rig = make_rig(IdlePolicy(0, 6, "Still there?", "Hello?", "Bye."))
    for _ in range(5):
        rig.watch.caller_away()
    assert rig.floor.posted == []
    assert rig.journal.entries == []
    assert rig.timer_resets == 5


def test_the_policy_comes_from_the_responder_settings_and_the_persona() -> None:
    persona = PersonaSpec(instructions="You are Sam.", greeting="Hi!", goodbye="Bye now!")
    profile = Profile("shop", Path("."), ProfileSpec(name="Shop", timezone="UTC", persona=persona))
    settings = Settings(
        _env_file=None,
        responder=ResponderSettings(_env_file=None, max_nudges=3),
        session=SessionSettings(_env_file=None, goodbye_grace_s=4),
    )
    policy = IdlePolicy.for_call(settings, profile)
    assert (policy.max_nudges, policy.goodbye_grace_s) == (3, 4)
    assert policy.nudge_text(2) == persona.still_there_again != persona.still_there
    assert policy.goodbye.endswith("Bye now!")
