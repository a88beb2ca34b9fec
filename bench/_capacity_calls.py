"""The callers of the capacity benchmark, played from the fake Realtime server's side.

A call dispatched by LiveKit's ``simulate_job(fake_job=True)`` runs in a room that is a
``create_autospec(rtc.Room)`` mock, inside the job process: its ``on()`` registers nothing and its
remote participant publishes no track, so ``RoomIO`` never subscribes a caller track, and no
caller audio can be pushed into the session from outside the job process. So the caller's turns
come from the server's side, as the realtime API's own turn detection sends them after a caller
spoke (:meth:`tests.fakes.realtime.FakeRealtime.user_turn`): ``speech_started``,
``speech_stopped``, the transcript, and the model's response, which calls ``delegate``.

Each simulated call (:func:`converse`) repeats one delegated turn: the caller asks
:data:`QUESTION` (tagged with a reference, so the turn can be found again in the task the responder
submits); the model answers with the ``delegate`` call alone (the responder then asks for its own
acknowledgement, and a filler once the task has run a second); the real thinker answers over
Redis; the responder's floor asks the model to speak the answer (``response.create`` naming the tool
output's call id), which the fake streams as :data:`RESULT_S` of audio in real time; after a pause
the caller asks again. :class:`Board` is the fake's policy and keeps, per turn, when the call went
out and when the answer was asked to be spoken.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from dataclasses import dataclass, field

from tests.fakes.realtime import (
    Call,
    FakeRealtime,
    Reply,
    ReplyRequest,
    Say,
    speak_quoted_instructions,
)
from tests.fakes.realtime.recording import ResponseRecord

QUESTION = "What time do you open on Friday?"
"""What every caller asks (the restaurant profile's thinker answers it)."""
GREETING_S = 1.0
"""Audio of the agent's greeting."""
RESULT_S = 2.0
"""Audio of each spoken answer (about one spoken sentence)."""
OTHER_S = 0.5
"""Audio of any other line the responder asks for: its own acknowledgement of a delegated turn
(the model's reply was the call alone), a filler while the task runs, a nudge."""
PAUSE_S = (1.0, 2.0)
"""Silence after an answer has been streamed before the caller asks again (uniform)."""
TURN_LIMIT_S = 30.0
"""A turn whose answer is not asked for within this long counts as failed."""

REF = re.compile(r"\(ref (c\d+t\d+)\)")
_CALL_ID = re.compile(r"call id (\S+?)[.,\s]")
_SUFFIX = re.compile(r"_(result|partial_\d+)$")


@dataclass
class Turn:
    """One delegated turn of one call. Times are ``time.time()`` values."""

    ref: str
    call: int
    asked_at: float
    call_id: str = ""
    call_sent_at: float | None = None
    """When the response carrying the ``delegate`` call ended (the call fully sent)."""
    result_asked_at: float | None = None
    """When the ``response.create`` that speaks the answer arrived."""
    answered: asyncio.Event = field(default_factory=asyncio.Event)


class Board:
    """The fake's policy for every call of a run, and the turns it saw."""

    def __init__(self) -> None:
        self.turns: dict[str, Turn] = {}
        self._by_call_id: dict[str, Turn] = {}
        self.greetings = 0
        self.other_replies = 0
        self.unmatched = 0

    def policy(self, request: ReplyRequest) -> Reply | None:
        """Greeting, the delegated turn, the answer, or a short reply to anything else."""
        if request.trigger == "user_turn":
            return self._delegate(request)
        named = _CALL_ID.findall(request.instructions or "")
        if named:
            return self._answer(request, named)
        if not any(item.type == "message" for item in request.conversation):
            self.greetings += 1
            return Reply(Say("Good evening, how can I help?", duration_s=GREETING_S))
        self.other_replies += 1  # tandem's own: an acknowledgement, a filler, a nudge
        quoted = speak_quoted_instructions(request)
        text = quoted.says[0] if quoted is not None else "One moment, please."
        return Reply(Say(text, duration_s=OTHER_S))

    def _delegate(self, request: ReplyRequest) -> Reply | None:
        found = REF.search(request.user_text or "")
        turn = self.turns.get(found.group(1)) if found else None
        if turn is None:
            return None  # not one of ours: the fake fails loudly
        turn.call_id = f"call_{turn.ref}"
        self._by_call_id[turn.call_id] = turn
        return Reply(Call("delegate", {"request": request.user_text}, call_id=turn.call_id))

    def _answer(self, request: ReplyRequest, named: list[str]) -> Reply:
        now = time.time()
        for call_id in named:
            turn = self._by_call_id.get(_SUFFIX.sub("", call_id))
            if turn is None:
                self.unmatched += 1
            elif turn.result_asked_at is None:
                turn.result_asked_at = now
                turn.answered.set()
        outputs = {item.call_id: item.output for item in request.conversation if item.output}
        text = " ".join(outputs.get(call_id) or "" for call_id in named).strip()
        return Reply(Say(text or "Here is what I found.", duration_s=RESULT_S))


def call_record(fake: FakeRealtime, turn: Turn) -> ResponseRecord | None:
    """The response that carried ``turn``'s ``delegate`` call."""
    for record in reversed(fake.responses):
        if any(call.call_id == turn.call_id for call in record.calls):
            return record
    return None


async def converse(
    fake: FakeRealtime,
    board: Board,
    call: int,
    connection: int,
    stop: asyncio.Event,
    rng: random.Random,
) -> None:
    """Call number ``call`` (the fake's ``connection``): delegated turns until ``stop``."""
    clock_offset = time.time() - time.monotonic()
    number = 0
    while not stop.is_set():
        turn = Turn(ref=f"c{call}t{number}", call=call, asked_at=time.time())
        board.turns[turn.ref] = turn
        number += 1
        await fake.user_turn(f"{QUESTION} (ref {turn.ref})", connection=connection)
        try:
            await asyncio.wait_for(turn.answered.wait(), TURN_LIMIT_S)
        except TimeoutError:
            continue  # counted as failed (no result_asked_at); ask again
        record = call_record(fake, turn)
        if record is not None and record.done_at is not None:
            turn.call_sent_at = record.done_at + clock_offset
        await asyncio.sleep(RESULT_S + rng.uniform(*PAUSE_S))
