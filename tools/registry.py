"""Finding tools: entry points in the ``tandem.tools`` group, from any installed package.

An entry point names a :class:`~tools.Tool` or an iterable of them. Built-in tools are registered
the same way as third-party ones. A plugin that fails to import, or whose tool name is already
taken, is reported and skipped, so a third-party bug never takes down a live call; strict mode
(for CI) turns those reports into an error.
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field, replace

from shared.errors import TandemError
from tools._definition import Tool

log = logging.getLogger("tandem.tools")

ENTRY_POINT_GROUP = "tandem.tools"


class ToolRegistryError(TandemError):
    """Strict discovery found problems; the message lists every one."""


@dataclass(frozen=True, slots=True)
class PluginProblem:
    """A plugin that was skipped, and why."""

    entry_point: str
    source: str
    message: str


@dataclass
class ToolRegistry:
    """The tools this process offers, by name."""

    tools: dict[str, Tool] = field(default_factory=dict)
    problems: list[PluginProblem] = field(default_factory=list)

    @classmethod
    def discover(
        cls,
        *,
        enabled: Collection[str] = (),
        disabled: Collection[str] = (),
        strict: bool = False,
    ) -> ToolRegistry:
        """Load every ``tandem.tools`` entry point, then keep the ``enabled`` ones (all if empty)
        minus the ``disabled`` ones. Raises :class:`ToolRegistryError` in ``strict`` mode if a
        plugin failed to load or a name collided, or if an enabled name was not found."""
        registry = cls()
        entry_points = sorted(
            importlib.metadata.entry_points(group=ENTRY_POINT_GROUP),
            key=lambda ep: (_source(ep) != "tandem-voice", _source(ep), ep.name),
        )
        for entry_point in entry_points:
            registry._load(entry_point)
        for setting, names in (("enabled", enabled), ("disabled", disabled)):
            for name in sorted(set(names) - set(registry.tools)):
                registry.problems.append(
                    PluginProblem(name, "configuration", f"{setting} tool {name!r} was not found")
                )
        registry.tools = {
            name: tool
            for name, tool in registry.tools.items()
            if (not enabled or name in enabled) and name not in disabled
        }
        if registry.problems:
            for problem in registry.problems:
                log.error(
                    "tool plugin skipped",
                    extra={
                        "entry_point": problem.entry_point,
                        "source": problem.source,
                        "detail": problem.message,
                    },
                )
            if strict:
                raise ToolRegistryError(
                    "tool discovery failed: "
                    + "; ".join(
                        f"{p.entry_point} ({p.source}): {p.message}" for p in registry.problems
                    )
                )
        return registry

    def _load(self, entry_point: importlib.metadata.EntryPoint) -> None:
        source = _source(entry_point)
        label = f"{entry_point.name} = {entry_point.value}"
        try:
            loaded = entry_point.load()
        except Exception as error:  # a third-party import error must not stop the worker
            self.problems.append(
                PluginProblem(label, source, f"failed to import: {type(error).__name__}: {error}")
            )
            return
        found, strays = _tools_in(loaded)
        if strays or not found:
            self.problems.append(
                PluginProblem(
                    label,
                    source,
                    f"is not a @tool or an iterable of them ({', '.join(strays) or 'empty'})",
                )
            )
        for tool in found:
            existing = self.tools.get(tool.name)
            if existing is not None:
                self.problems.append(
                    PluginProblem(
                        label,
                        source,
                        f"tool name {tool.name!r} is taken by {existing.source}; rename one "
                        "with @tool(name=...) or disable one with TANDEM_TOOLS_DISABLED",
                    )
                )
                continue
            self.tools[tool.name] = replace(tool, source=source)

    def __iter__(self) -> Iterator[Tool]:
        return iter(sorted(self.tools.values(), key=lambda tool: tool.name))

    def __len__(self) -> int:
        return len(self.tools)

    def get(self, name: str) -> Tool | None:
        """The tool called ``name``, if offered."""
        return self.tools.get(name)

    def allowed(self, names: Iterable[str] | None) -> list[Tool]:
        """The offered tools among ``names`` (all of them when ``names`` is None)."""
        if names is None:
            return list(self)
        wanted = set(names)
        return [tool for tool in self if tool.name in wanted]

    def responder_tools(self) -> list[Tool]:
        """Tools fast and harmless enough to run inside the responder."""
        return [tool for tool in self if tool.responder_safe]


def _source(entry_point: importlib.metadata.EntryPoint) -> str:
    dist = entry_point.dist
    return dist.name if dist is not None else "unknown"


def _tools_in(loaded: object) -> tuple[list[Tool], list[str]]:
    """The tools an entry point names, and descriptions of anything else it holds."""
    if isinstance(loaded, Tool):
        return [loaded], []
    if not isinstance(loaded, Iterable) or isinstance(loaded, (str, bytes)):
        return [], [type(loaded).__name__]
    items = list(loaded)
    tools = [item for item in items if isinstance(item, Tool)]
    strays = [repr(getattr(item, "__name__", item)) for item in items if not isinstance(item, Tool)]
    return tools, strays
