"""The durable Redis Streams bus between responders and thinkers (see ``docs/protocol.md``).

Responder side: :class:`ResponderBus` and its per-call :class:`SessionLink`.
Thinker side: :class:`TaskWorker` running a :class:`TaskHandler`.
"""

from shared.bus._task_run import WorkerStats
from shared.bus.backlog import Backlog, read_backlog
from shared.bus.handler import TaskContext, TaskFailed, TaskHandler, TaskOutcome, overall_kind
from shared.bus.responder import ResponderBus, SessionLink
from shared.bus.worker import TaskWorker

__all__ = [
    "Backlog",
    "ResponderBus",
    "SessionLink",
    "TaskContext",
    "TaskFailed",
    "TaskHandler",
    "TaskOutcome",
    "TaskWorker",
    "WorkerStats",
    "overall_kind",
    "read_backlog",
]
