"""The session budget: a call is steered to a close before its limit and ended at it, politely
when the goodbye is heard and surely when it is not; time on hold does not count. Time is a
virtual clock: nothing here waits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from responder.floor import Priority, Utterance
from responder.prompts import wrap_up_instructions
from responder.session.budget import BudgetPolicy, SessionBudget, Stage
from shared.config import SessionSettings, Settings
from shared.errors import ConfigError
from shared.profile import PersonaSpec, Profile, ProfileSpec, SessionSpec
from tests.fakes.session import Ends, Floor, Journal, VirtualClock

GOODBYE = "Thanks for calling Harbor Bikes, goodbye!"
START = 1000.0
POLICY = BudgetPolicy(max_duration_s=600, wrap_up_before_s=60, goodbye_grace_s=6)


@dataclass
class Rig:
    """A budget with everything it talks to."""

    clock: VirtualClock
    journal: Journal
    floor: Floor
    ends: Ends
    budget: SessionBudget
    task_running: bool = False

    def stage(self) -> Stage:
        """The budget's stage (read afresh: no narrowing across awaits)."""
        return self.budget.stage

    def utterance(self, kind: str) -> Utterance:
        found = [u for u in self.floor.posted if u.kind == kind]
        assert len(found) == 1
        return found[0]


def make_rig(policy: BudgetPolicy = POLICY, *, already_s: float = 0.0) -> Rig:
    clock = VirtualClock(START)
    journal, floor, ends = Journal(clock), Floor(), Ends()
    rig: Rig
    budget = SessionBudget(
        policy,
        clock=clock,
        post=floor.post,
        emit=journal.emit,
        end_call=ends.end_call,
        goodbye=GOODBYE,
        busy=lambda: rig.task_running,
        sleep=clock.sleep,
        started_at=START - already_s,
    )
    rig = Rig(clock, journal, floor, ends, budget)
    return rig


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    made = make_rig()
    made.budget.start()
    yield made
    await made.budget.aclose()


async def test_the_call_wraps_up_then_says_goodbye_and_ends_once_it_is_heard(rig: Rig) -> None:
    await rig.clock.advance(539.9)
    assert rig.journal.entries == []
    assert rig.stage() == "running"
    await rig.clock.advance(0.1)
    wrap_up = rig.journal.one("budget", "wrap_up")
    assert (wrap_up.at, wrap_up.fields) == (START + 540, {"remaining_s": 60.0})
    guidance = rig.floor.last()
    assert guidance.instructions == wrap_up_instructions(60, task_running=False)
    assert guidance.priority is Priority.GUIDANCE
    assert guidance.repeat_if_cut
    assert rig.stage() == "wrap_up"

    await rig.clock.advance(60)
    assert rig.journal.one("budget", "goodbye").at == START + 600
    goodbye = rig.floor.last()
    assert goodbye.text == GOODBYE
    assert goodbye.priority is Priority.GUIDANCE
    assert not goodbye.repeat_if_cut
    assert guidance.is_stale(), "a wrap-up not said by now is moot"
    assert rig.ends.reasons == []

    await rig.clock.advance(2)
    rig.floor.speak(goodbye)
    assert rig.journal.one("budget", "ended").fields == {"reason": "max_duration"}
    assert rig.ends.reasons == ["max_duration"]
    assert rig.stage() == "ended"
    await rig.clock.advance(60)
    assert rig.journal.events() == ["budget.wrap_up", "budget.goodbye", "budget.ended"]
    assert rig.ends.reasons == ["max_duration"]


async def test_a_running_task_is_to_be_answered_before_closing(rig: Rig) -> None:
    rig.task_running = True
    await rig.clock.advance(540)
    instructions = rig.utterance("wrap_up").instructions or ""
    assert instructions == wrap_up_instructions(60, task_running=True)
    assert "when its answer arrives, tell them that first" in instructions


def test_the_wrap_up_guidance_closes_without_a_mechanical_time_limit() -> None:
    text = wrap_up_instructions(60, task_running=False)
    assert "within about a minute" in text
    assert "Do not mention a time limit" in text
    assert "Do not say goodbye or end the call yourself" in text
    assert "anything else" in text
    assert "about 5 minutes" in wrap_up_instructions(290, task_running=False)


async def test_a_goodbye_never_heard_is_cut_after_the_grace(rig: Rig) -> None:
    await rig.clock.advance(600)
    goodbye = rig.floor.last()
    await rig.clock.advance(5.9)
    assert rig.ends.reasons == []
    await rig.clock.advance(0.1)
    assert rig.journal.one("budget", "hard_stop").at == START + 606
    assert rig.ends.reasons == ["max_duration_hard_stop"]
    assert rig.stage() == "hard_stop"
    assert goodbye.is_stale(), "the floor must not start it now"
    assert rig.journal.events() == ["budget.wrap_up", "budget.goodbye", "budget.hard_stop"]


async def test_time_on_hold_does_not_count(rig: Rig) -> None:
    await rig.clock.advance(300)
    rig.budget.hold_started()
    await rig.clock.advance(1000)
    assert rig.budget.call_time() == 300
    assert rig.journal.entries == []
    rig.budget.hold_ended()
    await rig.clock.advance(239.9)
    assert rig.journal.entries == []
    await rig.clock.advance(0.1)
    assert rig.journal.one("budget", "wrap_up").at == START + 1540


async def test_a_hold_during_the_wrap_up_moves_the_goodbye(rig: Rig) -> None:
    await rig.clock.advance(550)
    rig.budget.hold_started()
    await rig.clock.advance(100)
    rig.budget.hold_ended()
    await rig.clock.advance(49.9)
    assert rig.journal.events() == ["budget.wrap_up"]
    await rig.clock.advance(0.1)
    assert rig.journal.one("budget", "goodbye").at == START + 700
    assert rig.budget.call_time() == 600


async def test_a_call_already_past_the_wrap_up_point_wraps_up_at_once() -> None:
    late = make_rig(already_s=570)
    late.budget.start()
    await late.clock.advance(0)
    assert late.journal.one("budget", "wrap_up").fields == {"remaining_s": 30.0}
    assert late.utterance("wrap_up").instructions == wrap_up_instructions(30, False)
    await late.budget.aclose()


async def test_a_call_already_past_the_limit_says_goodbye_without_a_wrap_up() -> None:
    late = make_rig(already_s=700)
    late.budget.tick()
    assert late.journal.events() == ["budget.goodbye"]
    assert late.floor.last().text == GOODBYE
    await late.budget.aclose()


async def test_no_wrap_up_time_means_straight_to_the_goodbye() -> None:
    rig = make_rig(BudgetPolicy(max_duration_s=600, wrap_up_before_s=0, goodbye_grace_s=6))
    rig.budget.start()
    await rig.clock.advance(600)
    assert rig.journal.events() == ["budget.goodbye"]
    await rig.budget.aclose()


async def test_no_limit_means_no_budget_at_all() -> None:
    rig = make_rig(BudgetPolicy(max_duration_s=0, wrap_up_before_s=60, goodbye_grace_s=6))
    rig.budget.start()
    await rig.clock.advance(100_000)
    rig.budget.tick()
    assert rig.journal.entries == []
    assert rig.floor.posted == []
    assert rig.clock.slept == [], "no budget task was started"
    await rig.budget.aclose()


async def test_a_call_ended_otherwise_stops_the_budget(rig: Rig) -> None:
    await rig.clock.advance(600)
    await rig.budget.aclose()
    await rig.clock.advance(60)
    rig.budget.tick()
    assert rig.journal.events() == ["budget.wrap_up", "budget.goodbye"]
    assert rig.ends.reasons == []


def profile(max_duration_s: float = 1800, wrap_up_before_s: float = 60) -> Profile:
    spec = ProfileSpec(
        name="Harbor Bikes",
        timezone="UTC",
        persona=PersonaSpec(instructions="You are Sam.", greeting="Hi!", goodbye=GOODBYE),
        session=SessionSpec(max_duration_s=max_duration_s, wrap_up_before_s=wrap_up_before_s),
    )
    return Profile("harbor-bikes", Path("."), spec)


def settings(
    max_duration_s: float | None = None,
    wrap_up_before_s: float | None = None,
    goodbye_grace_s: float = 6,
) -> Settings:
    session = SessionSettings(
        _env_file=None,
        max_duration_s=max_duration_s,
        wrap_up_before_s=wrap_up_before_s,
        goodbye_grace_s=goodbye_grace_s,
    )
    return Settings(_env_file=None, session=session)


def test_the_profile_sets_the_budget_unless_settings_override_it() -> None:
    assert BudgetPolicy.for_call(settings(), profile(900, 30)) == BudgetPolicy(900, 30, 6)
    overridden = settings(max_duration_s=300, wrap_up_before_s=20, goodbye_grace_s=4)
    assert BudgetPolicy.for_call(overridden, profile(900, 30)) == BudgetPolicy(300, 20, 4)
    assert BudgetPolicy.for_call(settings(max_duration_s=0), profile()).max_duration_s == 0


def test_an_override_that_leaves_no_time_before_the_wrap_up_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        BudgetPolicy.for_call(settings(wrap_up_before_s=600), profile(600, 30))
    assert "TANDEM_SESSION_WRAP_UP_BEFORE_S" in str(caught.value)
    assert "[session] max_duration_s" in str(caught.value)
    with pytest.raises(ConfigError, match="TANDEM_SESSION_MAX_DURATION_S"):
        BudgetPolicy.for_call(settings(max_duration_s=50), profile(600, 60))
