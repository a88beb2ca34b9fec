"""``tandem responder console --text``: talk to the agent by typing, in any terminal or pipe.

The call is the production call (:func:`~responder.assembly.assemble_call`: the same session,
delegation, floor and metrics), with typed lines instead of caller audio and the agent's words
printed instead of played. Everything the agent says is printed as it is said, answers the floor
injects later included, with a short note when work is delegated and when it comes back.

Lines typed in a terminal are sent at once; lines piped in are sent one at a time, each after
the agent has finished with the last one (nothing running, nothing left to say), so a script of
lines plays like a conversation. End of input (Ctrl-D) ends the call once the agent is done;
Ctrl-C ends it at once.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from typing import Any, TextIO

from responder.assembly import assemble_call, load_process_models
from responder.call import Call
from shared.config import Settings
from shared.profile import Profile
from shared.redis_client import check_redis

_TASK_ENDS = {"task_answer": "answered", "task_failed": "failed", "task_stopped": "stopped"}

QUIET_S = 0.5
"""The agent counts as done with a line after this long with nothing running or pending."""


async def run_text_console(
    settings: Settings, profile: Profile, lines: TextIO, out: TextIO
) -> None:
    """Hold a call for ``profile`` with the lines read from ``lines``, printing the agent's
    side to ``out``."""
    interactive = lines.isatty()
    out.write(
        f"console, {profile.name} ({profile.id}), {settings.responder.mode} speech, text: type to "
        "talk; "
        f"{'Ctrl-D' if interactive else 'end of input'} ends the call.\n"
    )
    out.flush()
    assert settings.redis_url is not None  # the command gives it a Redis
    await check_redis(
        settings.redis_url.get_secret_value(), timeout_s=settings.redis_startup_wait_s
    )
    models = await asyncio.to_thread(load_process_models, settings, profile)
    call = await assemble_call(settings, models, session_id=f"console-{uuid.uuid4().hex[:8]}")
    _print_the_agent(call, out)
    typed = _read_lines(lines)
    try:
        await call.start()
        while (line := await typed.get()) is not None:
            if not interactive:
                await _until_done(call)
            if line.strip():
                call.session.generate_reply(user_input=line.strip())
        await _until_done(call)
    finally:
        await call.aclose("console closed")


def _print_the_agent(call: Call, out: TextIO) -> None:
    def on_item(event: Any) -> None:
        item = event.item
        if getattr(item, "role", None) == "assistant" and item.text_content:
            out.write(f"agent: {item.text_content}\n")
            out.flush()

    def on_metric(event: dict[str, Any]) -> None:
        name = event["event"]
        if name == "task_submitted":
            out.write(f"  · task {event.get('task')} delegated to the thinker\n")
        elif name in _TASK_ENDS and event.get("final", True):
            out.write(f"  · task {event.get('task')} {_TASK_ENDS[name]}\n")
        else:
            return
        out.flush()

    call.session.on("conversation_item_added", on_item)
    call.metrics.listeners.append(on_metric)


def _read_lines(source: TextIO) -> asyncio.Queue[str | None]:
    """Lines of ``source`` as they are read (None at the end), from a daemon thread: a blocked
    read must not keep the process alive after Ctrl-C."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def read() -> None:
        for line in source:
            loop.call_soon_threadsafe(queue.put_nowait, line)
        loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=read, name="console-input", daemon=True).start()
    return queue


async def _until_done(call: Call) -> None:
    """Until the agent has nothing running and nothing to say for :data:`QUIET_S`."""
    quiet_since: float | None = None
    loop = asyncio.get_running_loop()
    while not call.ended.is_set():
        busy = bool(
            call.delegator.tasks.running() or call.floor.pending or call.session.current_speech
        )
        now = loop.time()
        quiet_since = None if busy else (quiet_since or now)
        if quiet_since is not None and now - quiet_since >= QUIET_S:
            return
        await asyncio.sleep(0.05)
