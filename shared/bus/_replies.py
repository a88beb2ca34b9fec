"""Typed views of redis-py stream replies: the one place the bus casts what Redis returns.

Clients are made with ``decode_responses=True`` (see :mod:`shared.redis_client`), so keys, IDs and
field values are ``str``. An entry deleted while pending comes back with no fields; it becomes
an empty map here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Fields = dict[str, str]
StreamEntry = tuple[str, Fields]


def range_entries(reply: Any) -> list[StreamEntry]:
    """Entries of an ``XRANGE``/``XREVRANGE`` reply, or of the claimed part of ``XAUTOCLAIM``."""
    return [(str(entry_id), dict(fields or {})) for entry_id, fields in reply or ()]


def read_entries(reply: Any) -> list[StreamEntry]:
    """Entries of an ``XREAD``/``XREADGROUP`` reply, all streams together, in order."""
    return [entry for _stream, entries in reply or () for entry in range_entries(entries)]


def autoclaim(reply: Any) -> tuple[str, list[StreamEntry]]:
    """``(next cursor, claimed entries)`` of an ``XAUTOCLAIM`` reply (Redis 6.2 and 7+)."""
    return str(reply[0]), range_entries(reply[1])


def writable(fields: Mapping[str, str]) -> dict[Any, Any]:
    """``fields`` typed as redis-py's ``XADD`` wants them."""
    return dict(fields)
