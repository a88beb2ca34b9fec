"""The floor arbiter's rules, against a scripted stand-in for the session: it waits for the floor,
coalesces results, keeps and re-speaks interrupted utterances whole (once per barge-in, never when
stale), lets urgent guidance cut in, and lets fillers go only when nothing better waits."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from livekit.agents import llm

from profiles.restaurant.front_desk import OFF_DOMAIN_LINE, FrontDeskBrain
from responder import prompts
from responder.floor import RETRY_NOTE, FloorArbiter, Priority, Utterance, compose_instructions
from tests.tool_helpers import restaurant_profile


@dataclass
class Handle:
    """A speech handle the test finishes by hand."""

    instructions: str
    interrupted: bool = False
    chat_items: list[Any] = field(default_factory=list)
    _callbacks: list[Callable[[Any], None]] = field(default_factory=list)
    _done: bool = False

    def done(self) -> bool:
        return self._done

    def exception(self) -> BaseException | None:
        return None

    def add_done_callback(self, callback: Callable[[Any], None]) -> None:
        self._callbacks.append(callback)

    def finish(self, *, interrupted: bool = False, said: bool = True) -> None:
        self.interrupted = interrupted
        self.chat_items = [Said()] if said else []
        self._done = True
        for callback in self._callbacks:
            callback(self)


@dataclass
class Said:
    role: str = "assistant"


class ScriptedSession:
    """Idle only when the test says so; records every speech request."""

    def __init__(self) -> None:
        self.idle = asyncio.Event()
        self.idle.set()
        self.requests: list[Handle] = []
        self.interrupts = 0
        self.new_request = asyncio.Event()

    async def wait_for_idle(self) -> None:
        await self.idle.wait()

    def generate_reply(self, *, instructions: str, allow_interruptions: bool) -> Handle:
        handle = Handle(instructions)
        self.requests.append(handle)
        self.new_request.set()
        return handle

    def say(self, text: str, *, allow_interruptions: bool) -> Handle:
        return self.generate_reply(instructions=f"SAY {text}", allow_interruptions=True)

    def interrupt(self, *, force: bool = False) -> None:
        self.interrupts += 1
        for handle in self.requests:
            if not handle.done():
                handle.finish(interrupted=True)

    async def next_request(self) -> Handle:
        while True:
            count = len(self.requests)
            self.new_request.clear()
            await asyncio.wait_for(self.new_request.wait(), 2)
            if len(self.requests) > count:
                return self.requests[-1]


def result(text: str, stale: Callable[[], bool] = lambda: False) -> Utterance:
    return Utterance(kind="result", priority=Priority.RESULT, instructions=text, is_stale=stale)


async def test_nothing_is_said_until_the_floor_is_free_then_results_are_coalesced() -> None:
    session = ScriptedSession()
    session.idle.clear()  # the caller is talking
    floor = FloorArbiter(session, literal_speech=False)
    floor.start()
    floor.post(result("Friday 8 pm is free."))
    floor.post(result("The terrace is open."))
    await asyncio.sleep(0.05)
    assert session.requests == []  # never over the caller
    session.idle.set()
    handle = await session.next_request()
    assert "Friday 8 pm is free." in handle.instructions
    assert "The terrace is open." in handle.instructions  # one utterance for both
    handle.finish()
    await asyncio.sleep(0.01)
    assert floor.stats.spoken == 2
    assert floor.stats.coalesced == 1
    assert len(session.requests) == 1
    await floor.aclose()


async def test_an_interrupted_result_is_respoken_once_when_the_floor_frees_again() -> None:
    session = ScriptedSession()
    floor = FloorArbiter(session, literal_speech=False, max_repeats=2)
    floor.start()
    spoken: list[Utterance] = []
    utterance = result("Booked: table for four.")
    utterance.on_spoken = spoken.append
    floor.post(utterance)
    first = await session.next_request()
    session.idle.clear()  # the caller barges in
    first.finish(interrupted=True)
    await asyncio.sleep(0.05)
    assert len(session.requests) == 1  # not while the caller speaks
    session.idle.set()
    second = await session.next_request()
    assert second.instructions.endswith(RETRY_NOTE)
    second.finish()
    await asyncio.sleep(0.01)
    assert floor.stats.respoken == 1
    assert spoken == [utterance]
    assert len(session.requests) == 2  # once more, not twice more
    await floor.aclose()


async def test_a_result_that_went_stale_during_a_barge_in_is_not_respoken() -> None:
    session = ScriptedSession()
    floor = FloorArbiter(session, literal_speech=False)
    floor.start()
    superseded = False
    floor.post(result("Friday is free.", stale=lambda: superseded))
    first = await session.next_request()
    superseded = True  # the caller corrected the request while being told
    first.finish(interrupted=True)
    await asyncio.sleep(0.05)
    assert len(session.requests) == 1
    assert floor.stats.stale_dropped == 1
    await floor.aclose()


async def test_a_repeat_the_model_judges_covered_is_counted_not_repeated() -> None:
    session = ScriptedSession()
    floor = FloorArbiter(session, literal_speech=False)
    floor.start()
    floor.post(result("Friday is free."))
    (await session.next_request()).finish(interrupted=True)
    (await session.next_request()).finish(said=False)  # the model had already said it
    await asyncio.sleep(0.01)
    assert floor.stats.covered == 1
    assert floor.stats.spoken == 0
    await floor.aclose()


async def test_repeats_stop_at_the_limit_and_fillers_are_never_repeated() -> None:
    session = ScriptedSession()
    floor = FloorArbiter(session, literal_speech=True, max_repeats=1)
    floor.start()
    floor.post(result("Friday is free."))
    (await session.next_request()).finish(interrupted=True)
    (await session.next_request()).finish(interrupted=True)
    floor.post(
        Utterance(
            kind="filler", priority=Priority.FILLER, text="Still checking.", repeat_if_cut=False
        )
    )
    filler = await session.next_request()
    assert filler.instructions == "SAY Still checking."  # literal speech through the TTS
    filler.finish(interrupted=True)
    await asyncio.sleep(0.05)
    assert len(session.requests) == 3
    assert floor.stats.abandoned == 2
    await floor.aclose()


async def test_a_pending_result_makes_fillers_moot_and_urgent_guidance_cuts_in() -> None:
    session = ScriptedSession()
    session.idle.clear()
    floor = FloorArbiter(session, literal_speech=False)
    floor.start()
    floor.post(Utterance(kind="filler", priority=Priority.FILLER, text="Still checking."))
    floor.post(result("Friday is free."))
    session.idle.set()
    handle = await session.next_request()
    assert "Friday is free." in handle.instructions
    assert floor.stats.stale_dropped == 1  # the filler was dropped, not said after the answer
    session.idle.clear()  # the agent is busy talking...
    floor.post(Utterance(kind="wrap_up", priority=Priority.URGENT, text="We must end the call."))
    urgent = await session.next_request()  # ...urgent guidance does not wait for idle
    assert "We must end the call." in urgent.instructions
    assert session.interrupts == 1
    urgent.finish()
    session.idle.set()
    again = await session.next_request()  # the answer it cut off comes back afterwards
    assert "Friday is free." in again.instructions
    await floor.aclose()


def test_composed_instructions_list_every_item_and_ask_for_a_cut_one_again_whole() -> None:
    a, b = result("A is free."), result("B is booked.")
    assert compose_instructions([a]) == "A is free."
    both = compose_instructions([a, b])
    assert "1. A is free." in both
    assert "2. B is booked." in both
    a.attempts = 2
    again = compose_instructions([a])
    assert again == "A is free." + RETRY_NOTE
    assert "again now, whole" in again
    assert "nothing" not in again  # it is owed: never an invitation to skip it


async def test_an_answer_cut_off_by_a_misheard_noise_is_said_whole_after_the_reply_to_it() -> None:
    """Issue 14: "mm-hm" over an answer heard as "Mama" cut it off and got "Sorry, I can only
    help with..."; the answer was never delivered. The floor asks for it again once that reply
    is over, and the offline front desk then says all of it."""
    session = ScriptedSession()
    floor = FloorArbiter(session, literal_speech=True)
    floor.start()
    hours = "We open at noon every day except Monday, and the kitchen closes at eleven."
    where = prompts.answer_in_output("c1_result")
    floor.post(
        result(prompts.answer_instructions(1, "opening hours", where, late=False, moved_on=False))
    )
    first = await session.next_request()
    session.idle.clear()  # "Mama": the caller's turn, then the agent's reply to it
    first.finish(interrupted=True)
    await asyncio.sleep(0.05)
    assert len(session.requests) == 1
    session.idle.set()
    again = await session.next_request()
    conversation = [
        *delegated("c1", "opening hours"),
        *answered("c1", hours),
        llm.ChatMessage(role="assistant", content=["We open at noon every"], interrupted=True),
        llm.ChatMessage(role="user", content=["Mama"]),
        llm.ChatMessage(role="assistant", content=[OFF_DOMAIN_LINE]),
        llm.ChatMessage(role="system", content=[again.instructions]),
    ]
    said = FrontDeskBrain(restaurant_profile()).decide(conversation).text
    assert said.startswith("We open at noon every day except Monday")
    assert "eleven" in said
    again.finish()
    await asyncio.sleep(0.01)
    assert floor.stats.respoken == 1
    assert floor.stats.spoken == 1
    await floor.aclose()


async def test_every_cut_result_is_said_again_until_the_limit_unless_it_went_stale() -> None:
    session = ScriptedSession()
    floor = FloorArbiter(session, literal_speech=False, max_repeats=2)
    floor.start()
    kept, dropped = result("Friday is free."), result("Saturday is free.")
    superseded = False
    dropped.is_stale = lambda: superseded
    floor.post(kept)
    floor.post(dropped)
    first = await session.next_request()  # both, coalesced
    superseded = True  # the caller corrected the Saturday request while being told
    first.finish(interrupted=True)
    second = await session.next_request()
    assert "Friday is free." in second.instructions
    assert "Saturday" not in second.instructions
    second.finish(interrupted=True)  # cut off again: said a third time, the last
    third = await session.next_request()
    assert third.instructions == "Friday is free." + RETRY_NOTE
    third.finish(interrupted=True)
    await asyncio.sleep(0.05)
    assert len(session.requests) == 3
    assert floor.stats.stale_dropped == 1
    assert floor.stats.abandoned == 1
    await floor.aclose()


def delegated(call_id: str, request: str) -> list[llm.ChatItem]:
    """The ``delegate`` call that started task 1, as the front desk made it."""
    return [
        llm.FunctionCall(
            call_id=call_id, name="delegate", arguments=json.dumps({"request": request})
        ),
        llm.FunctionCallOutput(
            call_id=call_id, name="delegate", output="Task 1 started.", is_error=False
        ),
    ]


def answered(call_id: str, text: str) -> list[llm.ChatItem]:
    """The task's answer, as the responder inserts it into the conversation."""
    return [
        llm.FunctionCall(call_id=f"{call_id}_result", name="delegate", arguments="{}"),
        llm.FunctionCallOutput(
            call_id=f"{call_id}_result", name="delegate", output=text, is_error=False
        ),
    ]


async def test_a_caller_turn_that_just_ended_is_answered_before_anything_is_injected() -> None:
    session = ScriptedSession()
    floor = FloorArbiter(session, literal_speech=False, turn_settle_s=5.0)
    floor.start()
    floor.caller_turn_ended()  # the model has not started its reply yet: it may be a correction
    floor.post(result("Friday is free."))
    await asyncio.sleep(0.1)
    assert session.requests == []
    floor.reply_started()  # the reply to the caller began (and finished: the session is idle)
    handle = await session.next_request()
    assert "Friday is free." in handle.instructions
    await floor.aclose()


async def test_a_caller_turn_nobody_answers_holds_the_floor_only_briefly() -> None:
    session = ScriptedSession()
    floor = FloorArbiter(session, literal_speech=False, turn_settle_s=0.2)
    floor.start()
    floor.caller_turn_ended()  # "mm-hm": no reply will come
    floor.post(result("Friday is free."))
    await asyncio.sleep(0.1)
    assert session.requests == []
    handle = await session.next_request()
    assert "Friday is free." in handle.instructions
    await floor.aclose()
