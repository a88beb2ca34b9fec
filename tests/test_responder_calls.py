"""Whole calls through the responder: the real AgentSession and RealtimeModel against the fake
Realtime server, caller speech in real time, a real thinker on a real redis-server."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from responder.prompts import goodbye_after_silence
from shared.config import BusSettings
from shared.embedded_redis import EmbeddedRedis
from tests.fakes.realtime import Call as ModelCall
from tests.fakes.realtime import Reply, Say, Script, by_user_text
from tests.fakes.timed_brain import Plan, TimedBrain
from tests.responder_harness import agent_policy, call_under_test, desk_profile

pytestmark = pytest.mark.timeout(90)


async def test_a_question_is_answered_directly_without_the_thinker(
    redis: Redis, redis_server: EmbeddedRedis, settings: BusSettings
) -> None:
    script = Script(policy=by_user_text({"hello": Reply(Say("Hi! How can I help you today?"))}))
    brain = TimedBrain([])
    async with call_under_test(redis, redis_server.url, settings, script, brain) as call:
        await call.say("Hello there.")
        await call.until_event("first_audio")
        await call.quiet()
        assert call.agent_said() == ["Hi! How can I help you today?"]
        assert brain.requests == []
        summary = call.call.metrics.summary()
        assert summary["first_audio_s"]["direct"]["n"] == 1
        assert summary["talk_over"]["count"] == 0


def delegating(ack: str, request: str, **extra: object) -> Reply:
    """The model's reply that acknowledges and delegates in one response."""
    return Reply(Say(ack), ModelCall("delegate", {"request": request, **extra}))


async def test_a_delegated_answer_waits_for_the_caller_to_finish_talking(
    redis: Redis, redis_server: EmbeddedRedis, settings: BusSettings
) -> None:
    script = agent_policy(
        {
            "table": delegating("Let me check Friday at eight.", "table for 4 Friday 8pm"),
            "vegetarian": Reply(Say("Yes, we have several vegetarian dishes.")),
        }
    )
    brain = TimedBrain([Plan("table for 4", "Friday at 8 pm is free for four.", delay_s=2.5)])
    async with call_under_test(redis, redis_server.url, settings, script, brain) as call:
        await call.say("Is there a table for four on Friday at eight?")
        await call.until_event("task_submitted")
        await call.agent_stopped()
        # the caller keeps talking while the thinker works; the answer arrives mid-sentence
        await call.say("And while you look, do you have vegetarian options on the menu?")
        await call.until_event("task_answer")
        await call.quiet()
        said = call.agent_said()
        assert said == [
            "Let me check Friday at eight.",
            "Yes, we have several vegetarian dishes.",
            "Friday at 8 pm is free for four.",
        ]
        assert call.find("talk_over") == []
        assert call.find("ack_fallback") == []  # the model acknowledged in the same response
        summary = call.call.metrics.summary()
        assert summary["tasks"] == {"answered": 1}
        assert summary["first_audio_s"]["delegated"]["n"] == 1


async def test_a_result_cut_off_by_a_barge_in_is_spoken_again_once(
    redis: Redis, redis_server: EmbeddedRedis, settings: BusSettings
) -> None:
    answer = "Friday at 8 pm is free for four. Shall I book it for you?"
    script = agent_policy(
        {
            "table": delegating("Let me check that.", "table for 4 Friday 8pm"),
            "sorry": Reply(Say("Of course.")),
        }
    )
    brain = TimedBrain([Plan("table for 4", answer, delay_s=0.5)])
    async with call_under_test(redis, redis_server.url, settings, script, brain) as call:
        await call.say("Is there a table for four on Friday at eight?")
        await call.until_event("floor_requested", kind="result")
        await call.agent_playing_started()
        await asyncio.sleep(0.8)
        await call.say("Sorry what was that?")  # cuts the answer off
        await call.until_event("floor_spoken", kind="result")
        await call.quiet()
        assert sum(answer in r.said for r in call.fake.responses) == 2  # once more, not twice
        assert len(call.find("floor_interrupted", kind="result")) == 1
        assert len(call.find("floor_spoken", kind="result")) == 1
        assert call.call.metrics.respoken == 1
        assert call.find("talk_over") == []


async def test_a_correction_mid_task_cancels_the_old_task_and_only_the_new_answer_is_said(
    redis: Redis, redis_server: EmbeddedRedis, settings: BusSettings
) -> None:
    script = agent_policy(
        {
            "table": delegating("Let me check eight o'clock.", "table for 4 Friday 20:00"),
            "nine": delegating("Sure, nine instead.", "table for 4 Friday 21:00", replaces_task=1),
        }
    )
    brain = TimedBrain(
        [
            Plan("20:00", "Friday at 8 pm is free.", delay_s=8.0),
            Plan("21:00", "Friday at 9 pm is free.", delay_s=0.5),
        ]
    )
    async with call_under_test(redis, redis_server.url, settings, script, brain) as call:
        await call.say("Is there a table for four on Friday at eight?")
        await call.until_event("task_submitted")
        await call.agent_stopped()
        await call.say("Actually make that nine o'clock please.")
        await call.until_event("floor_spoken", kind="result")
        await call.quiet()
        said = " ".join(call.agent_said())
        assert "9 pm is free" in said
        assert "8 pm is free" not in said
        assert call.find("task_stopped", task=1, state="superseded")
        assert call.call.metrics.tasks == {"superseded": 1, "answered": 1}
        assert brain.requests == ["table for 4 Friday 20:00", "table for 4 Friday 21:00"]
        assert brain.cancelled == 1  # the thinker stopped working on the old request


async def test_an_answer_that_arrives_while_the_caller_corrects_the_request_is_never_said(
    redis: Redis, redis_server: EmbeddedRedis, settings: BusSettings
) -> None:
    ack = "Let me check eight o'clock on Friday for four people for you, one moment."
    script = agent_policy(
        {
            "table": delegating(ack, "table for 4 Friday 20:00"),
            "nine": delegating("Nine then.", "table for 4 Friday 21:00", replaces_task=1),
        }
    )
    brain = TimedBrain(
        [
            Plan("20:00", "Friday at 8 pm is free.", delay_s=0.2),
            Plan("21:00", "Friday at 9 pm is free.", delay_s=0.2),
        ]
    )
    async with call_under_test(redis, redis_server.url, settings, script, brain) as call:
        await call.say("Is there a table for four on Friday at eight?")
        await call.until_event("task_answer", task=1)  # answered while the ack still plays
        await call.say("Make that nine o'clock please.")  # the caller cuts in with a correction
        await call.until_event("floor_spoken", kind="result")
        await call.quiet()
        said = " ".join(call.agent_said())
        assert "9 pm is free" in said
        assert "8 pm is free" not in said  # computed for the old request: never spoken
        assert call.call.metrics.stale_suppressed == 1


async def test_two_results_arriving_together_are_said_in_one_utterance(
    redis: Redis, redis_server: EmbeddedRedis, settings: BusSettings
) -> None:
    ack = "Let me check the table and the terrace for you, one moment please, it will be quick."
    script = agent_policy(
        {
            "terrace": Reply(
                Say(ack),
                ModelCall("delegate", {"request": "table for 2 Saturday 13:00"}),
                ModelCall("delegate", {"request": "is the terrace open"}),
            )
        }
    )
    brain = TimedBrain(
        [
            Plan("table for 2", "Saturday at 1 pm is free.", delay_s=0.3),
            Plan("terrace", "The terrace is open.", delay_s=0.3),
        ]
    )
    async with call_under_test(redis, redis_server.url, settings, script, brain) as call:
        await call.say("A table for two on Saturday at one and is the terrace open?")
        await call.until_event("floor_spoken", kind="result", count=2)
        await call.quiet()
        client = [r for r in call.fake.responses if r.trigger == "client"]
        assert len(client) == 1  # both answers in one utterance, not two back to back
        assert "Saturday at 1 pm is free." in client[0].said[0]
        assert "The terrace is open." in client[0].said[0]
        assert call.call.floor.stats.coalesced == 1


@pytest.mark.parametrize(
    ("retryable", "message"),
    [
        (True, "Sorry, I could not get that done just now. Shall I try again?"),
        (False, "Sorry, I can't get that done. Can I take a message?"),
    ],
)
async def test_a_failed_task_gets_an_honest_message_offering_a_retry_only_when_it_may_help(
    redis: Redis, redis_server: EmbeddedRedis, settings: BusSettings, retryable: bool, message: str
) -> None:
    script = agent_policy({"book": delegating("Let me book that.", "book a table for 2")})
    brain = TimedBrain(
        [Plan("book a table", "", fail="the booking system is down", retryable=retryable)]
    )
    async with call_under_test(redis, redis_server.url, settings, script, brain) as call:
        await call.say("Please book a table for two tonight.")
        await call.until_event("floor_spoken", kind="failure")
        await call.quiet()
        assert call.agent_said()[-1] == message
        assert call.call.metrics.tasks == {"failed": 1}


async def test_a_task_past_its_deadline_gets_a_notice_then_an_honest_message(
    redis: Redis, redis_server: EmbeddedRedis, settings: BusSettings
) -> None:
    script = agent_policy({"wine": delegating("Let me look.", "find the wine list")})
    brain = TimedBrain([Plan("wine", "Red and white.", delay_s=20)])
    async with call_under_test(
        redis,
        redis_server.url,
        settings,
        script,
        brain,
        patience_s=2.5,
        task_timeout_s=5.0,
        max_fillers=0,
    ) as call:
        await call.say("What wines do you have?")
        await call.until_event("floor_spoken", kind="late_notice")
        await call.until_event("floor_spoken", kind="failure")
        await call.quiet()
        said = call.agent_said()
        assert said[-2:] == [
            "This is taking a little longer. I will tell you as soon as I have it.",
            "Sorry, I could not get that done just now. Shall I try again?",
        ]
        assert call.call.metrics.tasks == {"expired": 1}


async def test_a_slow_tool_gets_one_filler_about_what_it_does_and_a_fast_one_none(
    redis: Redis, redis_server: EmbeddedRedis, settings: BusSettings
) -> None:
    script = agent_policy(
        {
            "wine": delegating("Let me look.", "find the wine list"),
            "open": delegating("Let me check.", "opening hours"),
        }
    )
    brain = TimedBrain(
        [
            Plan(
                "wine",
                "We have twelve reds and eight whites.",
                tool="slow_lookup",
                arguments={"topic": "the wine list", "seconds": 4.0},
            ),
            Plan("opening", "We open at noon.", delay_s=0.1),
        ]
    )
    async with call_under_test(redis, redis_server.url, settings, script, brain) as call:
        await call.say("When do you open today?")
        await call.until_event("floor_spoken", kind="result")
        await call.quiet()
        assert call.find("filler") == []  # a fast task gets nothing extra
        await call.say("What wines do you have?")
        await call.until_event("floor_spoken", kind="result", count=2)
        await call.quiet()
        fillers = call.find("filler")
        assert len(fillers) == 1
        assert fillers[0]["text"] in {
            "Still looking up the wine list, one moment.",
            "Bear with me, I'm looking up the wine list.",
        }
        assert call.call.metrics.summary()["first_filler_s"]["n"] == 1


async def test_a_dropped_realtime_connection_ends_the_call_cleanly(
    redis: Redis, redis_server: EmbeddedRedis, settings: BusSettings
) -> None:
    script = agent_policy({"wine": delegating("Let me look.", "find the wine list")})
    brain = TimedBrain([Plan("wine", "Red and white.", delay_s=20)])
    async with call_under_test(redis, redis_server.url, settings, script, brain) as call:
        await call.say("What wines do you have?")
        await call.until_event("task_submitted")
        call.fake.drop_connections(refuse_reconnect=True)
        await asyncio.wait_for(call.call.ended.wait(), 30)
        assert call.call.end_reason == "fatal_error"
        assert call.find("fatal_error")
        # the open task was cancelled on the bus, so no thinker keeps working for nobody
        await call.until(lambda _: brain.cancelled >= 1)


async def test_an_answer_after_the_taking_long_notice_is_delivered_as_a_follow_up(
    redis: Redis, redis_server: EmbeddedRedis, settings: BusSettings
) -> None:
    script = agent_policy({"wine": delegating("Let me look.", "find the wine list")})
    brain = TimedBrain([Plan("wine", "We have twelve reds.", delay_s=4.0)])
    async with call_under_test(
        redis, redis_server.url, settings, script, brain, patience_s=2.0, max_fillers=0
    ) as call:
        await call.say("What wines do you have?")
        await call.until_event("floor_spoken", kind="late_notice")
        await call.until_event("floor_spoken", kind="result")
        await call.quiet()
        assert call.agent_said()[-2:] == [
            "This is taking a little longer. I will tell you as soon as I have it.",
            "We have twelve reds.",
        ]
        assert call.find("task_answer", task=1, late=True)
        assert call.call.metrics.tasks == {"answered": 1}


async def test_a_silent_caller_is_asked_if_they_are_there_then_the_call_ends_politely(
    redis: Redis, redis_server: EmbeddedRedis, settings: BusSettings
) -> None:
    script = agent_policy({})
    async with call_under_test(
        redis, redis_server.url, settings, script, TimedBrain([]), idle_nudge_s=2.0, max_nudges=1
    ) as call:
        await asyncio.wait_for(call.call.ended.wait(), timeout=30)
        profile = desk_profile()
        assert call.agent_said() == [profile.persona.still_there, goodbye_after_silence(profile)]
        assert [e["number"] for e in call.find("nudge")] == [1]
        assert call.find("closing")
        assert call.find("ended", source="idle")
        assert call.call.end_reason == "caller_silent"


async def test_a_caller_who_answers_the_nudge_is_helped_and_not_hung_up_on(
    redis: Redis, redis_server: EmbeddedRedis, settings: BusSettings
) -> None:
    script = agent_policy({"sorry": Reply(Say("No problem. How can I help?"))})
    async with call_under_test(
        redis, redis_server.url, settings, script, TimedBrain([]), idle_nudge_s=2.0, max_nudges=1
    ) as call:
        await call.until_event("nudge")
        await call.agent_stopped()
        await call.say("Yes, sorry, I am here.")
        await call.until(lambda _: "No problem. How can I help?" in call.agent_said())
        await call.agent_stopped()
        await call.until_event("nudge", count=2)  # the count starts again after speech
        await call.agent_stopped()
        assert [e["number"] for e in call.find("nudge")] == [1, 1]
        assert not call.call.ended.is_set()
