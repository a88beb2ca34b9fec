"""Conversation item events: create, delete, truncate, retrieve."""

from __future__ import annotations

from typing import Any

from tests.fakes.realtime import wire
from tests.fakes.realtime.streaming import ResponseStreamer


class ConversationItems(ResponseStreamer):
    """Answers the ``conversation.item.*`` client events on the connection's conversation."""

    def find(self, item_id: object) -> int | None:
        """Index of the item with ``item_id``."""
        return next((i for i, item in enumerate(self.items) if item.get("id") == item_id), None)

    async def _item_create(self, event: dict[str, Any]) -> None:
        event_id = event.get("event_id")
        raw = event.get("item")
        if not isinstance(raw, dict):
            await self.send(
                wire.error_event("Missing required parameter: 'item'.", event_id=event_id)
            )
            return
        item = wire.without_audio({**raw, "object": "realtime.item", "status": "completed"})
        item["id"] = item.get("id") or wire.new_id("item")
        if self.find(item["id"]) is not None:
            await self.send(
                wire.error_event(
                    f"Item with id '{item['id']}' already exists.",
                    code="item_create_duplicate_item_id",
                    event_id=event_id,
                )
            )
            return
        anchor = event.get("previous_item_id")
        if anchor == "root":
            position, previous = 0, None
        elif anchor is None:
            position, previous = len(self.items), self.tail_id
        elif (found := self.find(anchor)) is not None:
            position, previous = found + 1, anchor
        else:
            await self.send(
                wire.error_event(
                    f"Previous item with id '{anchor}' not found.",
                    code="item_create_invalid_previous_item_id",
                    event_id=event_id,
                )
            )
            return
        self.items.insert(position, item)
        await self.send(wire.event("conversation.item.added", previous_item_id=previous, item=item))
        await self.send(wire.event("conversation.item.done", previous_item_id=previous, item=item))

    async def _item_delete(self, event: dict[str, Any]) -> None:
        item_id = event.get("item_id")
        index = self.find(item_id)
        if index is None:
            await self.send(
                wire.error_event(
                    f"Item with item_id not found: {item_id}",
                    code="item_delete_invalid_item_id",
                    event_id=event.get("event_id"),
                )
            )
            return
        del self.items[index]
        await self.send(wire.event("conversation.item.deleted", item_id=item_id))

    async def _item_truncate(self, event: dict[str, Any]) -> None:
        item_id = event.get("item_id")
        index = self.find(item_id)
        event_id = event.get("event_id")
        audio_end_ms = int(event.get("audio_end_ms") or 0)
        if index is None or self.items[index].get("role") != "assistant":
            await self.send(
                wire.error_event(
                    f"Assistant message with item_id not found: {item_id}",
                    code="item_truncate_invalid_item_id",
                    event_id=event_id,
                )
            )
            return
        available = self.item_audio_ms.get(str(item_id), 0.0)
        if audio_end_ms > available + 1:
            await self.send(
                wire.error_event(
                    f"Audio content of {available:.0f}ms is already shorter than {audio_end_ms}ms",
                    code="invalid_value",
                    event_id=event_id,
                    param="audio_end_ms",
                )
            )
            return
        for part in self.items[index].get("content") or []:
            if isinstance(part, dict) and "transcript" in part:
                part["transcript"] = ""  # the real API drops the unheard transcript
        if (record := self.record_of_item.get(str(item_id))) is not None:
            record.truncated_at_ms = audio_end_ms
        await self.send(
            wire.event(
                "conversation.item.truncated",
                item_id=item_id,
                content_index=event.get("content_index", 0),
                audio_end_ms=audio_end_ms,
            )
        )

    async def _item_retrieve(self, event: dict[str, Any]) -> None:
        index = self.find(event.get("item_id"))
        if index is None:
            await self.send(
                wire.error_event(
                    f"Item with item_id not found: {event.get('item_id')}",
                    code="item_retrieve_invalid_item_id",
                    event_id=event.get("event_id"),
                )
            )
            return
        await self.send(wire.event("conversation.item.retrieved", item=self.items[index]))
