"""Streaming a scripted reply as Realtime response events, with cancellation."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import math
import re
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, Literal

from tests.fakes.realtime import wire
from tests.fakes.realtime.audio import BYTES_PER_MS, pcm_ms, tone
from tests.fakes.realtime.recording import ResponseRecord, Shared
from tests.fakes.realtime.script import Call, Reply, ReplyRequest, Say

CancelReason = Literal["client_cancelled", "turn_detected"]


@dataclass
class ActiveResponse:
    """A response being streamed."""

    record: ResponseRecord
    metadata: dict[str, Any] | None
    modalities: list[str]
    cancel: asyncio.Event = field(default_factory=asyncio.Event)
    output: list[dict[str, Any]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    @classmethod
    def create(
        cls,
        shared: Shared,
        request: ReplyRequest,
        reply: Reply,
        connection: int,
        metadata: dict[str, Any] | None,
        modalities: list[str],
        client_event: dict[str, Any] | None,
    ) -> ActiveResponse:
        """A response not started yet."""
        record = ResponseRecord(
            id=wire.new_id("resp"),
            trigger=request.trigger,
            request=request,
            reply=reply,
            connection=connection,
            client_event_id=client_event.get("event_id") if client_event else None,
            created_at=time.monotonic(),
            audio_planned_ms=sum(
                shared.options.say_ms(part.text, part.duration_s)
                for part in reply.parts
                if isinstance(part, Say)
            ),
        )
        return cls(record=record, metadata=metadata, modalities=modalities)

    @property
    def text_only(self) -> bool:
        """Whether the response is text (no audio)."""
        return "audio" not in self.modalities


class ResponseStreamer:
    """Owns the conversation items and the one active response of a connection."""

    def __init__(self, shared: Shared, index: int) -> None:
        self.shared = shared
        self.index = index
        self.items: list[dict[str, Any]] = []
        self.active: ActiveResponse | None = None
        self.item_audio_ms: dict[str, float] = {}
        self.record_of_item: dict[str, ResponseRecord] = {}
        self.seen_ids: set[str] = set()
        """Items the policy has seen (or produced): not "new" for the next request."""
        self._tasks: set[asyncio.Task[None]] = set()

    async def send(self, event: dict[str, Any]) -> None:
        """Send one server event."""
        raise NotImplementedError

    async def fail(self, reason: str, *, client_event: dict[str, Any] | None = None) -> None:
        """Record a failure and send an ``error`` event."""
        raise NotImplementedError

    @property
    def tail_id(self) -> str | None:
        """Id of the last conversation item."""
        return str(self.items[-1]["id"]) if self.items else None

    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run ``coro`` in a task cancelled when the connection ends."""
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def cancel_tasks(self) -> None:
        """Cancel every background task (the socket is gone)."""
        for task in list(self._tasks):
            task.cancel()

    # -- lifecycle ------------------------------------------------------------------------------

    async def start_response(self, active: ActiveResponse) -> None:
        """Send ``response.created`` now, then stream the reply in the background."""
        if self.active is not None and self.active.task is not None:
            await asyncio.shield(self.active.task)  # a user turn while a reply still streams
        self.active = active
        self.shared.responses.append(active.record)
        await self.send(
            wire.event(
                "response.created",
                response=wire.response_body(
                    active.record.id,
                    status="in_progress",
                    metadata=active.metadata,
                    modalities=active.modalities,
                ),
            )
        )
        active.task = self.spawn(self._stream(active))

    async def cancel_active(self, reason: CancelReason) -> None:
        """Stop the active response; returns once its ``response.done`` is sent."""
        active = self.active
        if active is None or active.cancel.is_set():
            return
        active.record.cancel_reason = reason
        active.cancel.set()
        if active.task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(active.task)

    async def _pause(self, active: ActiveResponse, seconds: float) -> bool:
        """Sleep ``seconds`` unless cancelled first; return whether the response is cancelled."""
        if not active.cancel.is_set():
            if seconds > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(active.cancel.wait(), seconds)
            else:
                await asyncio.sleep(0)
        return active.cancel.is_set()

    async def _stream(self, active: ActiveResponse) -> None:
        reply = active.record.reply
        try:
            cancelled = await self._pause(active, reply.first_audio_delay_s)
            for part in reply.parts:
                if cancelled:
                    break
                if isinstance(part, Say):
                    await self._say(active, part)
                else:
                    await self._call(active, part)
                cancelled = active.cancel.is_set()
        except Exception as exc:  # a bug in the fake: fail loudly, still end the response
            await self.fail(f"the fake crashed streaming {active.record.id}: {exc!r}")
        await self._finish(active)

    async def _finish(self, active: ActiveResponse) -> None:
        record = active.record
        cancelled = active.cancel.is_set()
        record.status = "cancelled" if cancelled else "completed"
        record.done_at = time.monotonic()
        details = (
            {"type": "cancelled", "reason": record.cancel_reason or "client_cancelled"}
            if cancelled
            else None
        )
        text_chars = sum(len(text) for text in record.said) + sum(
            len(json.dumps(dict(call.arguments))) for call in record.calls
        )
        conversation_chars = sum(len(json.dumps(item)) for item in self.items)
        usage = wire.usage(
            input_tokens=max(1, conversation_chars // 4),
            output_text_tokens=math.ceil(text_chars / 4),
            output_audio_tokens=math.ceil(record.audio_sent_ms / 50),
        )
        if self.active is active:
            self.active = None
        await self.send(
            wire.event(
                "response.done",
                response=wire.response_body(
                    record.id,
                    status=record.status,
                    metadata=active.metadata,
                    modalities=active.modalities,
                    output=active.output,
                    status_details=details,
                    usage_body=usage,
                ),
            )
        )

    # -- parts ----------------------------------------------------------------------------------

    async def _add_output_item(self, active: ActiveResponse, item: dict[str, Any]) -> int:
        output_index = len(active.output)
        previous = self.tail_id
        self.items.append(item)
        self.seen_ids.add(item["id"])
        active.output.append(item)
        active.record.item_ids.append(item["id"])
        self.record_of_item[item["id"]] = active.record
        common = {"response_id": active.record.id, "output_index": output_index}
        await self.send(wire.event("response.output_item.added", **common, item=item))
        await self.send(wire.event("conversation.item.added", previous_item_id=previous, item=item))
        return output_index

    async def _end_output_item(
        self, active: ActiveResponse, item: dict[str, Any], index: int
    ) -> None:
        common = {"response_id": active.record.id, "output_index": index}
        await self.send(wire.event("response.output_item.done", **common, item=item))
        previous = self.find_previous(item["id"])
        await self.send(wire.event("conversation.item.done", previous_item_id=previous, item=item))

    def find_previous(self, item_id: str) -> str | None:
        """Id of the item before ``item_id``."""
        ids = [item["id"] for item in self.items]
        position = ids.index(item_id) if item_id in ids else 0
        return str(ids[position - 1]) if position > 0 else None

    async def _say(self, active: ActiveResponse, part: Say) -> None:
        options = self.shared.options
        record = active.record
        item_id = wire.new_id("item")
        item = wire.assistant_item(item_id, status="in_progress", content=[])
        index = await self._add_output_item(active, item)
        common = {
            "response_id": record.id,
            "item_id": item_id,
            "output_index": index,
            "content_index": 0,
        }
        text_only = active.text_only
        empty_part = (
            {"type": "text", "text": ""} if text_only else {"type": "audio", "transcript": ""}
        )
        await self.send(wire.event("response.content_part.added", **common, part=empty_part))

        pcm = tone(options.say_ms(part.text, part.duration_s))
        chunk_bytes = options.chunk_ms * BYTES_PER_MS
        chunks = max(1, math.ceil(len(pcm) / chunk_bytes))
        words = re.findall(r"\S+\s*", part.text) or [part.text]
        speed = record.reply.stream_speed or options.stream_speed
        interval = options.chunk_ms / 1000 / speed
        transcript = ""
        sent_words = 0
        self.item_audio_ms[item_id] = 0.0
        started = time.monotonic()
        for chunk in range(chunks):
            # paced against the start, so time spent sending is not added to every interval
            due = started + chunk * interval
            if chunk > 0 and await self._pause(active, due - time.monotonic()):
                break
            record.audio_late_s = max(record.audio_late_s, time.monotonic() - due)
            if record.first_output_at is None:
                record.first_output_at = time.monotonic()
            upto = math.ceil((chunk + 1) * len(words) / chunks)
            delta = "".join(words[sent_words:upto])
            sent_words = max(sent_words, upto)
            if delta:
                transcript += delta
                kind = "output_text" if text_only else "output_audio_transcript"
                await self.send(wire.event(f"response.{kind}.delta", **common, delta=delta))
            if not text_only:
                audio = pcm[chunk * chunk_bytes : (chunk + 1) * chunk_bytes]
                await self.send(
                    wire.event(
                        "response.output_audio.delta",
                        **common,
                        delta=base64.b64encode(audio).decode("ascii"),
                    )
                )
                record.audio_sent_ms += pcm_ms(audio)
                self.item_audio_ms[item_id] += pcm_ms(audio)

        cancelled = active.cancel.is_set()
        if text_only:
            final_part = {"type": "text", "text": transcript}
            content = [{"type": "output_text", "text": transcript}]
        else:
            final_part = {"type": "audio", "transcript": transcript}
            content = [{"type": "output_audio", "transcript": transcript}]
        if not cancelled:
            if text_only:
                await self.send(wire.event("response.output_text.done", **common, text=transcript))
            else:
                await self.send(wire.event("response.output_audio.done", **common))
                await self.send(
                    wire.event(
                        "response.output_audio_transcript.done", **common, transcript=transcript
                    )
                )
            await self.send(wire.event("response.content_part.done", **common, part=final_part))
        item["status"] = "incomplete" if cancelled else "completed"
        item["content"] = content
        record.said.append(transcript)
        await self._end_output_item(active, item, index)

    async def _call(self, active: ActiveResponse, part: Call) -> None:
        record = active.record
        tool_names = record.request.tool_names
        if self.shared.options.check_tools and part.name not in tool_names:
            await self.fail(f"scripted call {part.name!r} is not among the tools {tool_names}")
        call_id = part.call_id or wire.new_id("call")
        arguments = json.dumps(dict(part.arguments))
        if record.first_output_at is None:
            record.first_output_at = time.monotonic()
        item_id = wire.new_id("item")
        item = wire.function_call_item(
            item_id, name=part.name, call_id=call_id, arguments="", status="in_progress"
        )
        index = await self._add_output_item(active, item)
        common = {
            "response_id": record.id,
            "item_id": item_id,
            "output_index": index,
            "call_id": call_id,
        }
        await self.send(
            wire.event("response.function_call_arguments.delta", **common, delta=arguments)
        )
        await self.send(
            wire.event(
                "response.function_call_arguments.done",
                **common,
                name=part.name,
                arguments=arguments,
            )
        )
        item["arguments"] = arguments
        item["status"] = "completed"
        record.calls.append(Call(part.name, dict(part.arguments), call_id))
        await self._end_output_item(active, item, index)
