"""The fake OpenAI Realtime server, proven with the real livekit-plugins-openai 1.8.9 client.

Every test drives ``livekit.plugins.openai.realtime.RealtimeModel`` over a loopback websocket,
so these tests double as the reference for what the plugin sends and needs (see the package
docstring of ``tests.fakes.realtime``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from livekit import rtc
from livekit.agents import (
    Agent,
    AgentSession,
    APIConnectionError,
    APIConnectOptions,
    RunContext,
    function_tool,
    io,
    llm,
)
from livekit.plugins import silero
from livekit.plugins.openai.realtime import RealtimeModel, RealtimeSession
from openai.types.realtime.realtime_audio_input_turn_detection import ServerVad

from tests.fakes.realtime import (
    Call,
    FakeRealtime,
    Reply,
    Say,
    Script,
    by_user_text,
    client_default,
    in_order,
    rms,
    silence,
    tone,
)

SAMPLE_RATE = 24_000


@contextlib.asynccontextmanager
async def realtime_session(server: FakeRealtime, **options: Any) -> AsyncIterator[RealtimeSession]:
    """A real plugin session connected to ``server``; closed (with its model) on exit."""
    model = RealtimeModel(base_url=server.base_url, api_key="test", **options)
    session = model.session()
    try:
        yield session
    finally:
        await session.aclose()
        await model.aclose()


@dataclass
class Collected:
    """Everything one generation streamed to the client."""

    text: str = ""
    pcm: bytearray = field(default_factory=bytearray)
    message_ids: list[str] = field(default_factory=list)
    calls: list[llm.FunctionCall] = field(default_factory=list)

    @property
    def audio_ms(self) -> float:
        """Milliseconds of audio received."""
        return len(self.pcm) / (SAMPLE_RATE * 2 / 1000)


async def collect(generation: llm.GenerationCreatedEvent) -> Collected:
    """Drain a generation's messages (text and audio) and function calls."""
    out = Collected()
    async for message in generation.message_stream:
        out.message_ids.append(message.message_id)
        async for piece in message.text_stream:
            out.text += piece
        async for frame in message.audio_stream:
            out.pcm.extend(frame.data.tobytes())
    out.calls = [call async for call in generation.function_stream]
    return out


def frame(pcm: bytes) -> rtc.AudioFrame:
    """PCM16 24 kHz mono as a frame."""
    return rtc.AudioFrame(
        data=pcm, sample_rate=SAMPLE_RATE, num_channels=1, samples_per_channel=len(pcm) // 2
    )


def speak(session: RealtimeSession, *, speech_ms: int = 500, silence_ms: int = 500) -> None:
    """Push a loud utterance followed by silence, as a microphone would."""
    session.push_audio(frame(tone(speech_ms)))
    session.push_audio(frame(silence(silence_ms)))


class Events:
    """Collects the plugin session's events into queues, one per event name."""

    def __init__(self, session: RealtimeSession, *names: Any) -> None:  # the plugin's Literal
        self.queues: dict[str, asyncio.Queue[Any]] = {name: asyncio.Queue() for name in names}
        for name in names:
            session.on(name, self.queues[name].put_nowait)

    async def next(self, name: str, *, limit_s: float = 5.0) -> Any:
        """The next event called ``name``."""
        return await asyncio.wait_for(self.queues[name].get(), limit_s)


@function_tool
async def delegate(task: str) -> str:
    """Hand a task to the back office.

    Args:
        task: What to do.
    """
    return f"queued {task}"


async def test_generate_reply_streams_audio_and_transcript() -> None:
    async with (
        FakeRealtime() as server,
        realtime_session(server) as session,
    ):
        started = time.monotonic()
        generation = await asyncio.wait_for(
            session.generate_reply(instructions='Say "We open at noon."'), 5
        )
        got = await collect(generation)
        elapsed = time.monotonic() - started

        assert generation.user_initiated
        assert got.text == "We open at noon."
        assert got.audio_ms == pytest.approx(60 * len("We open at noon."), abs=1)
        assert rms(bytes(got.pcm)) > 1000  # a tone, not silence
        assert elapsed < got.audio_ms / 1000  # faster than real time...
        deltas = server.sent_events("response.output_audio.delta")
        assert len(deltas) == 10  # ...but in 100 ms pieces

        (response,) = server.responses
        assert response.trigger == "client"
        assert response.request.instructions is not None
        assert response.request.instructions.endswith('Say "We open at noon."')
        assert response.said == ["We open at noon."]
        assert response.status == "completed"
        # the plugin's defaults arrived in session.update and were merged
        audio_input = server.session["audio"]["input"]
        assert audio_input["turn_detection"]["type"] == "semantic_vad"
        assert audio_input["transcription"]["model"] == "gpt-4o-mini-transcribe"
        (created,) = server.sent_events("response.created")
        assert created["response"]["metadata"] == {
            "client_event_id": server.events("response.create")[0]["event_id"]
        }
        (item,) = server.conversation
        assert (item.role, item.text) == ("assistant", "We open at noon.")
        assert session.chat_ctx.items[0].text_content == "We open at noon."  # type: ignore[union-attr]


async def test_say_and_call_in_one_response_then_tool_output_is_spoken() -> None:
    script = Script(
        policy=in_order(
            Reply(Say("One moment."), Call("delegate", {"task": "book"}, "call_1")),
            otherwise=client_default,
        )
    )
    async with FakeRealtime(script) as server, realtime_session(server) as session:
        await session.update_tools([delegate])
        first = await collect(await asyncio.wait_for(session.generate_reply(), 5))

        assert first.text == "One moment."
        (call,) = first.calls
        assert (call.name, call.call_id, call.arguments) == (
            "delegate",
            "call_1",
            '{"task": "book"}',
        )
        assert server.responses[0].request.tool_names == ["delegate"]

        # the framework's tool reply: the output item, then response.create
        chat_ctx = session.chat_ctx.copy()
        chat_ctx.items.append(
            llm.FunctionCallOutput(
                call_id="call_1", name="delegate", output="Booked for 7pm.", is_error=False
            )
        )
        await session.update_chat_ctx(chat_ctx)
        second = await collect(await asyncio.wait_for(session.generate_reply(), 5))

        assert second.text == "Booked for 7pm."  # in_order ran out: client_default spoke it
        assert [(item.type, item.role) for item in server.conversation] == [
            ("message", "assistant"),
            ("function_call", None),
            ("function_call_output", None),
            ("message", "assistant"),
        ]
        assert server.conversation[1].args == {"task": "book"}
        assert [item.type for item in server.responses[1].request.new_items] == [
            "function_call_output"
        ]


async def test_update_chat_ctx_items_are_acknowledged() -> None:
    async with FakeRealtime() as server, realtime_session(server) as session:
        chat_ctx = llm.ChatContext()
        chat_ctx.add_message(role="user", content="Hi, I am Ana.")
        chat_ctx.add_message(role="assistant", content="Hello Ana!")
        await asyncio.wait_for(session.update_chat_ctx(chat_ctx), 5)  # 5 s timeout if unacked

        assert [(item.role, item.text) for item in server.conversation] == [
            ("user", "Hi, I am Ana."),
            ("assistant", "Hello Ana!"),
        ]
        assert [item.text_content for item in session.chat_ctx.items] == [  # type: ignore[union-attr]
            "Hi, I am Ana.",
            "Hello Ana!",
        ]

        del chat_ctx.items[0]
        chat_ctx.add_message(role="user", content="Table for two?")
        await asyncio.wait_for(session.update_chat_ctx(chat_ctx), 5)

        assert [item.text for item in server.conversation] == ["Hello Ana!", "Table for two?"]
        assert len(server.sent_events("conversation.item.deleted")) == 1
        assert server.errors_sent == []


async def test_cancel_stops_the_stream_and_truncate_is_acknowledged() -> None:
    long_text = "Let me tell you about every dish on our menu, one by one, in detail."
    script = Script(policy=in_order(Reply(Say(long_text), stream_speed=1.0)))
    async with FakeRealtime(script) as server, realtime_session(server) as session:
        generation = await asyncio.wait_for(session.generate_reply(), 5)
        message = await anext(aiter(generation.message_stream))
        frames = message.audio_stream.__aiter__()
        for _ in range(3):
            await asyncio.wait_for(frames.__anext__(), 5)

        session.interrupt()  # response.cancel
        rest = [f async for f in frames]  # the stream ends at output_item.done
        await server.wait_until(lambda: server.responses[0].status != "in_progress")

        (response,) = server.responses
        assert response.cancelled
        assert response.cancel_reason == "client_cancelled"
        assert 300 <= response.audio_sent_ms < response.audio_planned_ms / 2
        assert len(rest) + 3 == response.audio_sent_ms // 100
        (done,) = server.sent_events("response.done")
        assert done["response"]["status"] == "cancelled"
        assert server.conversation[0].status == "incomplete"

        session.truncate(message_id=message.message_id, modalities=["audio"], audio_end_ms=200)
        await server.wait_until(lambda: bool(server.sent_events("conversation.item.truncated")))
        assert response.truncated_at_ms == 200
        assert server.conversation[0].text == ""  # the unheard transcript is dropped

        session.interrupt()  # nothing active any more: no response.cancel is sent
        await asyncio.sleep(0.05)
        assert len(server.events("response.cancel")) == 1


async def test_server_vad_detects_a_turn_transcribes_it_and_answers() -> None:
    script = Script(
        hears=["What time do you open?"],
        policy=by_user_text({"open": Reply(Say("We open at noon."))}),
    )
    async with FakeRealtime(script) as server, realtime_session(server) as session:
        events = Events(
            session,
            "input_speech_started",
            "input_speech_stopped",
            "input_audio_transcription_completed",
            "generation_created",
        )
        speak(session, speech_ms=600, silence_ms=500)

        await events.next("input_speech_started")
        stopped: llm.InputSpeechStoppedEvent = await events.next("input_speech_stopped")
        assert stopped.user_transcription_enabled
        transcripts: list[llm.InputTranscriptionCompleted] = []
        while not transcripts or not transcripts[-1].is_final:
            transcripts.append(await events.next("input_audio_transcription_completed"))
        assert transcripts[-1].transcript == "What time do you open?"
        assert len(transcripts) > 1  # deltas first
        generation: llm.GenerationCreatedEvent = await events.next("generation_created")
        assert not generation.user_initiated
        assert (await collect(generation)).text == "We open at noon."

        (started,) = server.sent_events("input_audio_buffer.speech_started")
        (speech_stopped,) = server.sent_events("input_audio_buffer.speech_stopped")
        assert started["audio_start_ms"] == 0
        assert 600 + 300 <= speech_stopped["audio_end_ms"] <= 600 + 400
        assert server.responses[0].trigger == "user_turn"
        assert server.responses[0].request.user_text == "What time do you open?"
        assert [(item.role, item.text) for item in server.conversation] == [
            ("user", "What time do you open?"),
            ("assistant", "We open at noon."),
        ]
        assert session.chat_ctx.items[0].text_content == "What time do you open?"  # type: ignore[union-attr]


async def test_a_server_side_user_turn_is_heard_without_audio_and_answered() -> None:
    script = Script(policy=by_user_text({"open": Reply(Say("We open at noon."))}))
    async with FakeRealtime(script) as server, realtime_session(server) as session:
        events = Events(
            session,
            "input_speech_started",
            "input_speech_stopped",
            "input_audio_transcription_completed",
            "generation_created",
        )
        await server.wait_until(lambda: bool(server.events("session.update")))
        await server.user_turn("What time do you open?")

        await events.next("input_speech_started")
        await events.next("input_speech_stopped")
        transcripts: list[llm.InputTranscriptionCompleted] = []
        while not transcripts or not transcripts[-1].is_final:
            transcripts.append(await events.next("input_audio_transcription_completed"))
        assert transcripts[-1].transcript == "What time do you open?"
        generation: llm.GenerationCreatedEvent = await events.next("generation_created")
        assert (await collect(generation)).text == "We open at noon."

        assert not server.events("input_audio_buffer.append")
        (response,) = server.responses
        assert response.trigger == "user_turn"
        assert response.request.user_text == "What time do you open?"
        assert [(item.role, item.text) for item in server.conversation] == [
            ("user", "What time do you open?"),
            ("assistant", "We open at noon."),
        ]


async def test_user_speech_interrupts_a_streaming_response() -> None:
    script = Script(
        hears=["Tell me a story.", "Stop, please."],
        policy=by_user_text(
            {
                "story": Reply(Say("Once upon a time " * 6), stream_speed=1.0),
                "stop": Reply(Say("Okay.")),
            }
        ),
    )
    async with FakeRealtime(script) as server, realtime_session(server) as session:
        events = Events(session, "generation_created")
        speak(session)
        story: llm.GenerationCreatedEvent = await events.next("generation_created")
        message = await anext(aiter(story.message_stream))
        frames = message.audio_stream.__aiter__()
        await asyncio.wait_for(frames.__anext__(), 5)

        speak(session, speech_ms=400)  # barge in
        stop = await collect(await events.next("generation_created"))

        assert stop.text == "Okay."
        first, second = server.responses
        assert first.cancelled
        assert first.cancel_reason == "turn_detected"
        assert first.audio_sent_ms < first.audio_planned_ms
        assert second.said == ["Okay."]
        types = [event["type"] for event in server.sent]
        started = [i for i, t in enumerate(types) if t == "input_audio_buffer.speech_started"]
        assert types.index("response.done") > started[1]  # speech first, then the cancel


async def test_client_driven_turns_commit_and_response_create() -> None:
    script = Script(
        hears=["Do you have vegan dishes?"],
        policy=by_user_text({"vegan": Reply(Say("Yes, three of them."))}),
    )
    async with (
        FakeRealtime(script) as server,
        realtime_session(server, turn_detection=None) as session,
    ):
        events = Events(session, "input_audio_transcription_completed", "input_speech_started")
        speak(session)
        session.commit_audio()
        final: llm.InputTranscriptionCompleted | None = None
        while final is None or not final.is_final:
            final = await events.next("input_audio_transcription_completed")
        got = await collect(await asyncio.wait_for(session.generate_reply(), 5))

        assert got.text == "Yes, three of them."
        assert events.queues["input_speech_started"].empty()  # no server VAD
        assert server.session["audio"]["input"]["turn_detection"] is None
        assert server.responses[0].trigger == "client"
        assert server.responses[0].request.user_text == "Do you have vegan dishes?"
        assert not server.sent_events("input_audio_buffer.speech_started")


async def test_text_modality_streams_text_deltas() -> None:
    script = Script(policy=in_order(Reply(Say("Text only, no audio."))))
    async with (
        FakeRealtime(script) as server,
        realtime_session(server, modalities=["text"]) as session,
    ):
        got = await collect(await asyncio.wait_for(session.generate_reply(), 5))

        assert got.text == "Text only, no audio."
        assert got.audio_ms == 0
        assert server.session["output_modalities"] == ["text"]
        assert server.sent_events("response.output_text.delta")
        assert not server.sent_events("response.output_audio.delta")


async def test_server_vad_timings_and_delays() -> None:
    script = Script(
        hears=["Can I bring my dog?"],
        policy=by_user_text({"dog": Reply(Say("Sure."), first_audio_delay_s=0.3)}),
    )
    async with (
        FakeRealtime(script, transcription_delay_s=0.2) as server,
        realtime_session(
            server,
            turn_detection=ServerVad(type="server_vad", silence_duration_ms=200),
        ) as session,
    ):
        events = Events(session, "generation_created")
        speak(session, speech_ms=600, silence_ms=400)
        got = await collect(await events.next("generation_created"))
        completed = "conversation.item.input_audio_transcription.completed"
        await server.wait_until(lambda: bool(server.sent_events(completed)))

        assert got.text == "Sure."
        (stopped,) = server.sent_events("input_audio_buffer.speech_stopped")
        assert 600 + 200 <= stopped["audio_end_ms"] <= 600 + 300  # the session's silence wins
        types = [event["type"] for event in server.sent]
        assert types.index("response.created") < types.index(completed)  # a late transcript
        (response,) = server.responses
        assert response.first_output_at is not None
        assert response.first_output_at - response.created_at >= 0.3


async def test_unscripted_situations_fail_loudly() -> None:
    async with FakeRealtime(strict=False) as server, realtime_session(server) as session:
        events = Events(session, "error")
        with pytest.raises(llm.RealtimeError, match="no scripted reply"):
            await asyncio.wait_for(session.generate_reply(instructions="Improvise."), 5)
        speak(session)  # server VAD: a user turn, but nothing left to hear
        errors: list[llm.RealtimeModelError] = [await events.next("error") for _ in range(2)]

        assert all(error.recoverable for error in errors)
        assert [failure.client_event for failure in server.failures] == ["response.create", None]
        assert "nothing left to hear" in server.failures[1].reason
        assert all(e["error"]["code"] == "fake_realtime_unscripted" for e in server.errors_sent)
        assert server.responses == []
        with pytest.raises(AssertionError, match="nothing left to hear"):
            server.assert_no_failures()


async def test_dropped_connection_is_replayed_on_reconnect() -> None:
    async with (
        FakeRealtime() as server,
        realtime_session(
            server, conn_options=APIConnectOptions(max_retry=2, retry_interval=0.1, timeout=2.0)
        ) as session,
    ):
        events = Events(session, "session_reconnected", "error")
        chat_ctx = llm.ChatContext()
        chat_ctx.add_message(role="user", content="Remember me.")
        await asyncio.wait_for(session.update_chat_ctx(chat_ctx), 5)

        server.drop_connections()
        await events.next("session_reconnected")
        error: llm.RealtimeModelError = await events.next("error")

        assert error.recoverable
        assert len(server.connections) == 2
        assert [item.text for item in server.conversation] == ["Remember me."]  # replayed
        assert len(server.events("session.update")) == 2


async def test_refused_reconnects_end_in_a_non_recoverable_error() -> None:
    async with FakeRealtime() as server:
        model = RealtimeModel(
            base_url=server.base_url,
            api_key="test",
            conn_options=APIConnectOptions(max_retry=2, retry_interval=0.1, timeout=2.0),
        )
        session = model.session()
        events = Events(session, "error")
        await server.wait_until(lambda: bool(server.events("session.update")))

        server.drop_connections(refuse_reconnect=True)
        errors: list[llm.RealtimeModelError] = []
        while not errors or errors[-1].recoverable:
            errors.append(await events.next("error"))

        assert [e.recoverable for e in errors] == [True, True, False]
        assert [h.accepted for h in server.handshakes] == [True, False, False]
        with pytest.raises(APIConnectionError):  # the plugin re-raises the fatal error here
            await session.aclose()
        await model.aclose()


# -- a whole AgentSession, without a room ---------------------------------------------------------


class Mic(io.AudioInput):
    """A microphone: queued utterances, then silence, in 20 ms frames at 4x real time."""

    def __init__(self) -> None:
        super().__init__(label="fake-mic")
        self._pending = bytearray()

    def say(self, pcm: bytes) -> None:
        """Queue audio to "speak"."""
        self._pending.extend(pcm)

    async def __anext__(self) -> rtc.AudioFrame:
        await asyncio.sleep(0.005)
        size = SAMPLE_RATE // 50 * 2
        data = bytes(self._pending[:size]).ljust(size, b"\0")
        del self._pending[:size]
        return frame(data)


class Speaker(io.AudioOutput):
    """A loudspeaker that plays in real time and can be cut off (``clear_buffer``)."""

    def __init__(self) -> None:
        super().__init__(
            label="fake-speaker",
            capabilities=io.AudioOutputCapabilities(pause=False),
            sample_rate=SAMPLE_RATE,
        )
        self._captured_s = 0.0
        self._started_at: float | None = None
        self._finish: asyncio.TimerHandle | None = None
        self.segments: list[tuple[float, bool]] = []
        """(seconds played, interrupted) per segment."""

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        """Queue a frame; the first of a segment starts playback."""
        await super().capture_frame(frame)
        if self._started_at is None:
            self._started_at = time.monotonic()
            self._captured_s = 0.0
            self.on_playback_started(created_at=time.time())
        self._captured_s += frame.duration

    def flush(self) -> None:
        """End of segment: report it finished once it has played."""
        super().flush()
        if self._started_at is not None and self._finish is None:
            remaining = self._started_at + self._captured_s - time.monotonic()
            self._finish = asyncio.get_running_loop().call_later(
                max(0.0, remaining), self._done, False
            )

    def clear_buffer(self) -> None:
        """Interrupted: stop now."""
        if self._started_at is not None:
            if self._finish is not None:
                self._finish.cancel()
            self._done(True)

    def _done(self, interrupted: bool) -> None:
        assert self._started_at is not None
        played = min(self._captured_s, time.monotonic() - self._started_at)
        self._started_at, self._finish = None, None
        self.segments.append((played, interrupted))
        self.on_playback_finished(playback_position=played, interrupted=interrupted)


class Host(Agent):
    """A restaurant host with one tool."""

    def __init__(self) -> None:
        super().__init__(instructions="You are a restaurant host.")

    @function_tool
    async def book_table(self, ctx: RunContext[Any], party_size: int) -> str:
        """Book a table.

        Args:
            party_size: How many guests.
        """
        return f"Booked a table for {party_size} at 7pm."


@contextlib.asynccontextmanager
async def agent_session(
    server: FakeRealtime,
) -> AsyncIterator[tuple[AgentSession[Any], Mic, Speaker]]:
    """An ``AgentSession`` on the real plugin, a local VAD, and the fake mic and speaker."""
    model = RealtimeModel(base_url=server.base_url, api_key="test")
    session: AgentSession[Any] = AgentSession(
        llm=model, vad=silero.VAD.load(), aec_warmup_duration=None
    )
    mic, speaker = Mic(), Speaker()
    session.input.audio = mic
    session.output.audio = speaker
    await session.start(Host(), record=False)
    try:
        yield session, mic, speaker
    finally:
        await session.aclose()
        await model.aclose()


async def test_agent_session_turn_with_a_tool_call_and_a_barge_in() -> None:
    script = Script(
        hears=["What is on the menu?", "Just book a table for two."],
        policy=by_user_text(
            {
                "menu": Reply(Say("Tonight we have soup, fish, a risotto and three desserts.")),
                "book": Reply(Say("One moment."), Call("book_table", {"party_size": 2})),
            }
        ),
    )
    async with FakeRealtime(script) as server, agent_session(server) as (session, mic, speaker):
        mic.say(tone(600))
        await server.wait_until(lambda: len(server.responses) == 1, limit_s=5)
        await asyncio.sleep(0.8)  # the menu is playing (3.4 s of audio)...
        mic.say(tone(600))  # ...when the caller barges in
        await server.wait_until(
            lambda: len(server.responses) == 3 and server.responses[2].done_at is not None,
            limit_s=10,
        )
        await asyncio.wait_for(session.wait_for_idle(), 10)

        menu, booking, result = server.responses
        assert not menu.cancelled  # streamed at 10x: it was complete before the barge-in...
        assert menu.truncated_at_ms is not None  # ...so the client truncated it where it stopped
        assert 600 <= menu.truncated_at_ms <= 2000
        assert speaker.segments[0][1]  # interrupted
        assert booking.trigger == "user_turn"
        assert [call.name for call in booking.calls] == ["book_table"]
        assert result.trigger == "client"
        assert result.said == ["Booked a table for 2 at 7pm."]
        history = [
            (item.type, getattr(item, "role", None))
            for item in session.history.items
            if item.type in ("message", "function_call", "function_call_output")
        ]
        assert history == [
            ("message", "user"),
            ("message", "assistant"),
            ("message", "user"),
            ("message", "assistant"),
            ("function_call", None),
            ("function_call_output", None),
            ("message", "assistant"),
        ]
        assert server.events("conversation.item.truncate")
