"""A protocol-compatible fake of the OpenAI Realtime websocket API (GA event names).

The real ``livekit.plugins.openai.realtime.RealtimeModel`` talks to it over a loopback socket::

    script = Script(
        hears=["What time do you open?", "Book a table for two"],
        policy=by_user_text({
            "open": Reply(Say("We open at noon.")),
            "book": Reply(Say("One moment."), Call("delegate", {"task": "book"})),
        }),
    )
    async with FakeRealtime(script) as server:
        model = RealtimeModel(base_url=server.base_url, api_key="test")
        ...
        assert server.failures == []
        assert server.responses[0].said == ["We open at noon."]

What it does:

- Answers ``session.update`` with ``session.updated`` (the merged session); keeps one
  conversation per connection (``conversation.item.create/delete/truncate/retrieve`` answered
  with ``added``+``done`` / ``deleted`` / ``truncated`` / ``retrieved``, or an ``error`` naming the
  client ``event_id`` as the real API does).
- Server VAD (a ``turn_detection`` config, the plugin's default): an energy VAD over the
  appended PCM16 emits ``speech_started``, then after ``silence_ms`` of quiet audio
  ``speech_stopped``, ``input_audio_buffer.committed``, the user item, the transcription
  (the next string of ``script.hears``) and, unless ``create_response`` is false, a response.
  Speech starting while a response streams cancels it (``status_details.reason ==
  "turn_detected"``) unless ``interrupt_response`` is false.
- Server-side turns without audio: :meth:`FakeRealtime.user_turn` sends what the server VAD
  sends after a caller spoke (``speech_started``/``stopped``, the user item heard as the given
  text, its transcription, a response), for clients whose caller audio cannot reach it.
- Client turns: ``input_audio_buffer.commit`` (a user item, transcribed, no response) and
  ``response.create``, whose ``metadata`` is echoed in ``response.created``/``response.done``.
- A reply streams ``response.output_item.added``, ``conversation.item.added``,
  ``content_part.added``, interleaved ``output_audio_transcript.delta``/``output_audio.delta``
  (a tone, ``chunk_ms`` per delta, ``stream_speed`` x real time, paced from the first delta
  so ``stream_speed=1`` streams in real time; lateness in ``audio_late_s``), the done events and
  ``response.done`` with usage; a :class:`Call` goes out as a function_call item with one
  arguments delta. ``response.cancel`` stops it (``status == "cancelled"``).
- Anything unscripted (no transcript left, a policy returning ``None``, an unknown client
  event) is sent as an ``error`` with code ``fake_realtime_unscripted`` and recorded in
  ``server.failures``; ``async with`` raises on exit if any was recorded (``strict=True``).
- :meth:`FakeRealtime.drop_connections` cuts every socket; with ``refuse_reconnect=True`` later
  handshakes get HTTP 503, and the plugin ends with a non-recoverable ``error``.

Scripting: :class:`Script` holds ``hears`` (one transcript per user turn, in order) and a
:data:`Policy` that maps a :class:`ReplyRequest` to a :class:`Reply` of :class:`Say` /
:class:`Call` parts (or ``None``: unscripted). Ready-made policies: :func:`by_user_text`,
:func:`in_order`, :func:`speak_new_tool_outputs`, :func:`speak_quoted_instructions`,
:data:`client_default` (the last two in turn), :func:`first_of`. Observe with
``server.received`` / ``sent`` / ``responses`` (:class:`ResponseRecord`) / ``conversation``
(:class:`Item`) / ``failures`` / ``errors_sent`` / ``handshakes``, and ``await
server.wait_until(predicate)``.

What livekit-plugins-openai 1.8.9 needs from a server (read in
``livekit/agents/llm/_realtime/openai.py``, proven by tests/test_fake_realtime.py):

- Events are parsed with the openai SDK's ``construct`` (no validation): a missing field
  surfaces as an exception inside a handler that is only logged ("failed to handle event").
- ``response.created`` must echo ``response.metadata`` (``client_event_id``), or the
  ``generate_reply`` future times out after 10 s. An ``error`` whose ``error.event_id`` names
  that ``response.create`` fails the future at once with ``RealtimeError(message)``.
- ``conversation.item.added`` must carry ``previous_item_id`` = the current last item: ``null``
  means "insert at the head" in the client's mirror, not "append".
- Assistant messages go out with empty ``content`` in ``conversation.item.added``: the client
  appends the streamed transcript at ``response.done`` (content there would be doubled). Same
  for user audio: the transcript arrives with ``input_audio_transcription.completed``.
- ``response.output_item.added`` (type message) opens the message stream,
  ``content_part.added`` sets its modalities, ``response.output_item.done`` closes it and is
  where a function call is emitted (``conversation.item.added`` may carry ``arguments: ""``);
  ``response.done`` closes the generation (``usage`` feeds the metrics). ``*.done`` variants of
  conversation items, ``function_call_arguments.*``, ``committed``, ``truncated``,
  ``session.created/updated`` are ignored by the client.
- ``update_chat_ctx`` waits up to 5 s for an ``added``/``deleted`` per item.
- ``session.interrupt()`` sends ``response.cancel`` only while a generation is active; error
  messages starting with "Cancellation failed" are swallowed, as is
  ``input_audio_buffer_commit_empty`` while turn detection is on.
- On reconnect the client replays ``session.update``, the tools and its confirmed chat context
  as ``conversation.item.create`` (the real API starts every connection empty; so does the
  fake). After the non-recoverable error, ``RealtimeSession.aclose()`` re-raises it and no
  ``close`` event is emitted.
"""

from tests.fakes.realtime.audio import pcm_ms, rms, silence, tone
from tests.fakes.realtime.recording import Failure, Handshake, ResponseRecord
from tests.fakes.realtime.script import (
    Call,
    Item,
    Part,
    Policy,
    Reply,
    ReplyRequest,
    Say,
    Script,
    Trigger,
    by_user_text,
    client_default,
    default_policy,
    first_of,
    in_order,
    speak_new_tool_outputs,
    speak_quoted_instructions,
)
from tests.fakes.realtime.server import FakeRealtime

__all__ = [
    "Call",
    "Failure",
    "FakeRealtime",
    "Handshake",
    "Item",
    "Part",
    "Policy",
    "Reply",
    "ReplyRequest",
    "ResponseRecord",
    "Say",
    "Script",
    "Trigger",
    "by_user_text",
    "client_default",
    "default_policy",
    "first_of",
    "in_order",
    "pcm_ms",
    "rms",
    "silence",
    "speak_new_tool_outputs",
    "speak_quoted_instructions",
    "tone",
]
