"""One websocket session: session config, conversation, input audio buffer, VAD, responses."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.realtime import wire
from tests.fakes.realtime.audio import EnergyVad, pcm_ms
from tests.fakes.realtime.items import ConversationItems
from tests.fakes.realtime.recording import Failure, Shared
from tests.fakes.realtime.script import Item, Reply, ReplyRequest, Trigger
from tests.fakes.realtime.streaming import ActiveResponse


def _elided(event: dict[str, Any]) -> dict[str, Any]:
    if event.get("type") == "input_audio_buffer.append" and isinstance(event.get("audio"), str):
        audio = event["audio"]
        return {**{k: v for k, v in event.items() if k != "audio"}, "audio_bytes": len(audio)}
    return event


class Connection(ConversationItems):
    """Serves one client websocket until it closes (or the fake drops it)."""

    def __init__(
        self, shared: Shared, ws: web.WebSocketResponse, request: web.Request, index: int
    ) -> None:
        super().__init__(shared, index)
        self.ws = ws
        self._request = request
        self.session: dict[str, Any] = json.loads(json.dumps(wire.DEFAULT_SESSION))
        self.input_buffer = bytearray()
        options = shared.options
        self.vad = EnergyVad(
            threshold=options.vad_threshold,
            silence_ms=options.silence_ms,
            prefix_padding_ms=options.prefix_padding_ms,
        )
        self.speech_item_id: str | None = None
        self.closed = False
        self._send_lock = asyncio.Lock()

    # -- plumbing -------------------------------------------------------------------------------

    async def send(self, event: dict[str, Any]) -> None:
        """Send one server event (dropped silently once the socket is gone)."""
        payload = json.dumps(event)
        if event["type"] == "response.output_audio.delta":
            self.shared.sent.append({**event, "delta": f"<{len(event['delta'])} chars>"})
        else:
            snapshot = json.loads(payload)  # items change later: record them as sent
            self.shared.sent.append(snapshot)
            if event["type"] == "error":
                self.shared.errors_sent.append(snapshot)
        self.shared.notify()
        if self.ws.closed:
            return
        async with self._send_lock:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await self.ws.send_str(payload)

    async def fail(self, reason: str, *, client_event: dict[str, Any] | None = None) -> None:
        """Record a failure and tell the client with an ``error`` event."""
        event_type = client_event.get("type") if client_event else None
        self.shared.failures.append(Failure(reason, self.index, event_type))
        await self.send(
            wire.error_event(
                f"FakeRealtime: {reason}",
                code="fake_realtime_unscripted",
                event_id=client_event.get("event_id") if client_event else None,
            )
        )

    def abort(self) -> None:
        """Cut the TCP connection without a close frame."""
        self.closed = True
        self.cancel_tasks()
        if (transport := self._request.transport) is not None:
            transport.abort()

    async def run(self) -> None:
        """Receive and answer client events until the socket closes."""
        await self.send(wire.event("session.created", session=self.session))
        try:
            async for msg in self.ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    event = json.loads(msg.data)
                except ValueError:
                    await self.fail(f"client sent invalid JSON: {msg.data[:200]!r}")
                    continue
                self.shared.received.append(_elided(event))
                self.shared.notify()
                try:
                    await self.handle(event)
                except Exception as exc:  # a bug in the fake: say so instead of hanging up
                    await self.fail(f"the fake crashed: {exc!r}", client_event=event)
        finally:
            self.closed = True
            self.cancel_tasks()

    # -- session --------------------------------------------------------------------------------

    @property
    def turn_detection(self) -> dict[str, Any] | None:
        """The session's turn_detection config (``None``: client-driven turns)."""
        value = self.session.get("audio", {}).get("input", {}).get("turn_detection")
        return value if isinstance(value, dict) else None

    @property
    def transcription_enabled(self) -> bool:
        """Whether the session asked for input audio transcription."""
        return bool(self.session.get("audio", {}).get("input", {}).get("transcription"))

    @property
    def modalities(self) -> list[str]:
        """The session's output modalities."""
        return list(self.session.get("output_modalities") or ["audio"])

    @property
    def tools(self) -> list[dict[str, Any]]:
        """The session's tools."""
        return list(self.session.get("tools") or [])

    # -- dispatch -------------------------------------------------------------------------------

    async def handle(self, event: dict[str, Any]) -> None:
        """Answer one client event."""
        handlers = {
            "session.update": self._session_update,
            "input_audio_buffer.append": self._append,
            "input_audio_buffer.commit": self._commit_request,
            "input_audio_buffer.clear": self._clear,
            "conversation.item.create": self._item_create,
            "conversation.item.delete": self._item_delete,
            "conversation.item.truncate": self._item_truncate,
            "conversation.item.retrieve": self._item_retrieve,
            "response.create": self._response_create,
            "response.cancel": self._response_cancel,
        }
        handler = handlers.get(str(event.get("type")))
        if handler is None:
            await self.fail(f"unknown client event type {event.get('type')!r}", client_event=event)
            return
        await handler(event)

    async def _session_update(self, event: dict[str, Any]) -> None:
        patch = event.get("session")
        if not isinstance(patch, dict):
            await self.send(
                wire.error_event(
                    "Missing required parameter: 'session'.", event_id=event.get("event_id")
                )
            )
            return
        self.session = wire.merge(self.session, patch)
        if (td := self.turn_detection) is not None:
            # semantic_vad has no timings: the fake's own apply; server_vad's win when given
            explicit = td if td.get("type") == "server_vad" else {}
            options = self.shared.options
            self.vad.silence_ms = int(explicit.get("silence_duration_ms") or options.silence_ms)
            self.vad.prefix_padding_ms = int(
                explicit.get("prefix_padding_ms") or options.prefix_padding_ms
            )
        await self.send(wire.event("session.updated", session=self.session))

    # -- input audio ----------------------------------------------------------------------------

    async def _append(self, event: dict[str, Any]) -> None:
        try:
            pcm = base64.b64decode(str(event.get("audio", "")), validate=True)
        except ValueError:
            await self.send(
                wire.error_event("Invalid base64 audio.", event_id=event.get("event_id"))
            )
            return
        self.input_buffer.extend(pcm)
        boundaries = self.vad.feed(pcm)
        td = self.turn_detection
        if td is None:
            self.vad.reset()
            return
        for boundary in boundaries:
            if boundary.kind == "started":
                self.speech_item_id = wire.new_id("item")
                await self.send(
                    wire.event(
                        "input_audio_buffer.speech_started",
                        audio_start_ms=boundary.audio_ms,
                        item_id=self.speech_item_id,
                    )
                )
                if self.active is not None and td.get("interrupt_response") is not False:
                    await self.cancel_active("turn_detected")
            else:
                await self.send(
                    wire.event(
                        "input_audio_buffer.speech_stopped",
                        audio_end_ms=boundary.audio_ms,
                        item_id=self.speech_item_id,
                    )
                )
                await self._commit_turn(auto_response=td.get("create_response") is not False)

    async def _commit_request(self, event: dict[str, Any]) -> None:
        if pcm_ms(len(self.input_buffer)) < 100:
            await self.send(
                wire.error_event(
                    "Error committing input audio buffer: buffer too small. Expected at least "
                    f"100ms of audio, but buffer only has {pcm_ms(len(self.input_buffer)):.2f}ms "
                    "of audio.",
                    code="input_audio_buffer_commit_empty",
                    event_id=event.get("event_id"),
                )
            )
            return
        await self._commit_turn(auto_response=False)

    async def _clear(self, _event: dict[str, Any]) -> None:
        self.input_buffer.clear()
        self.vad.reset()
        self.speech_item_id = None
        await self.send(wire.event("input_audio_buffer.cleared"))

    async def user_turn(self, text: str) -> None:
        """A caller turn the server detects without audio: ``speech_started`` (cancelling an
        active response, as speech would), ``speech_stopped``, the committed user item heard as
        ``text`` and, as turn detection's ``create_response`` allows, a response: what the
        server VAD sends after a caller spoke, for callers whose audio cannot reach the session.
        """
        td = self.turn_detection
        position = self.vad.position_ms
        self.speech_item_id = item_id = wire.new_id("item")
        await self.send(
            wire.event(
                "input_audio_buffer.speech_started", audio_start_ms=position, item_id=item_id
            )
        )
        if self.active is not None and (td is None or td.get("interrupt_response") is not False):
            await self.cancel_active("turn_detected")
        await self.send(
            wire.event("input_audio_buffer.speech_stopped", audio_end_ms=position, item_id=item_id)
        )
        auto_response = td is not None and td.get("create_response") is not False
        await self._commit_turn(auto_response=auto_response, heard=text)

    async def _commit_turn(self, *, auto_response: bool, heard: str | None = None) -> None:
        item_id = self.speech_item_id or wire.new_id("item")
        self.speech_item_id = None
        self.input_buffer.clear()
        self.vad.reset()
        previous = self.tail_id
        await self.send(
            wire.event("input_audio_buffer.committed", previous_item_id=previous, item_id=item_id)
        )
        item = wire.user_audio_item(item_id)
        self.items.append(item)
        await self.send(wire.event("conversation.item.added", previous_item_id=previous, item=item))
        await self.send(wire.event("conversation.item.done", previous_item_id=previous, item=item))
        if heard is None:
            heard = self.shared.script.hear()
        if heard is None:
            await self.fail("a user turn was committed but the script has nothing left to hear")
            if self.transcription_enabled:
                await self.send(
                    wire.event(
                        "conversation.item.input_audio_transcription.failed",
                        item_id=item_id,
                        content_index=0,
                        error={"type": "fake_error", "code": None, "message": "unscripted"},
                    )
                )
            return
        item["content"][0]["transcript"] = heard
        if self.transcription_enabled:
            if self.shared.options.transcription_delay_s > 0:
                self.spawn(
                    self._transcribe(item_id, heard, self.shared.options.transcription_delay_s)
                )
            else:
                await self._transcribe(item_id, heard, 0.0)
        if auto_response:
            await self.respond("user_turn", user_text=heard, params={}, client_event=None)

    async def _transcribe(self, item_id: str, text: str, delay_s: float) -> None:
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        for piece in re.findall(r"\S+\s*", text) or [text]:
            await self.send(
                wire.event(
                    "conversation.item.input_audio_transcription.delta",
                    item_id=item_id,
                    content_index=0,
                    delta=piece,
                )
            )
        await self.send(
            wire.event(
                "conversation.item.input_audio_transcription.completed",
                item_id=item_id,
                content_index=0,
                transcript=text,
                usage={"type": "duration", "seconds": 1.0},
            )
        )

    # -- responses ------------------------------------------------------------------------------

    async def _response_create(self, event: dict[str, Any]) -> None:
        params = event.get("response")
        if not isinstance(params, dict):
            params = {}
        if self.active is not None:
            await self.send(
                wire.error_event(
                    "Conversation already has an active response in progress: "
                    f"{self.active.record.id}. Wait until the response is finished before "
                    "creating a new one.",
                    code="conversation_already_has_active_response",
                    event_id=event.get("event_id"),
                )
            )
            return
        await self.respond("client", user_text=None, params=params, client_event=event)

    async def _response_cancel(self, event: dict[str, Any]) -> None:
        wanted = event.get("response_id")
        if self.active is None or (wanted and wanted != self.active.record.id):
            await self.send(
                wire.error_event(
                    "Cancellation failed: no active response found",
                    code="response_cancel_not_active",
                    event_id=event.get("event_id"),
                )
            )
            return
        await self.cancel_active("client_cancelled")

    def build_request(
        self, trigger: Trigger, *, user_text: str | None, params: dict[str, Any]
    ) -> ReplyRequest:
        """Snapshot what the policy needs; items seen now are no longer "new" next time."""
        conversation = [wire.flatten(item) for item in self.items]
        new_items = [item for item in conversation if item.id not in self.seen_ids]
        self.seen_ids = {item.id for item in conversation}
        if user_text is None:
            user_text = _newest_user_text(new_items)
        tools = params.get("tools")
        return ReplyRequest(
            trigger=trigger,
            user_text=user_text,
            instructions=params.get("instructions"),
            conversation=conversation,
            new_items=new_items,
            tools=list(tools) if isinstance(tools, list) else self.tools,
            tool_choice=params.get("tool_choice", self.session.get("tool_choice")),
        )

    async def respond(
        self,
        trigger: Trigger,
        *,
        user_text: str | None,
        params: dict[str, Any],
        client_event: dict[str, Any] | None,
    ) -> None:
        """Ask the policy for a reply and start streaming it (or fail loudly)."""
        request = self.build_request(trigger, user_text=user_text, params=params)
        try:
            reply: Reply | None = self.shared.script.reply(request)
        except Exception as exc:
            await self.fail(
                f"the policy raised {exc!r} for {request.summary()}", client_event=client_event
            )
            return
        if reply is None:
            await self.fail(f"no scripted reply for {request.summary()}", client_event=client_event)
            return
        metadata = params.get("metadata") if isinstance(params.get("metadata"), dict) else None
        modalities = params.get("output_modalities") or self.modalities
        await self.start_response(
            ActiveResponse.create(
                self.shared, request, reply, self.index, metadata, list(modalities), client_event
            )
        )


def _newest_user_text(items: list[Item]) -> str | None:
    texts = [item.text for item in items if item.role == "user" and item.text]
    return texts[-1] if texts else None
