"""The ``@tool`` decorator and the :class:`Tool` it makes."""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, get_type_hints, overload

from pydantic import BaseModel, ConfigDict, create_model

from tools._context import ToolContext

LatencyClass = Literal["fast", "slow"]
"""``fast``: answers in well under a second. ``slow``: the caller needs a filler while it runs."""

NAME_PATTERN = re.compile(r"^[a-zA-Z][a-zA-Z0-9_-]{0,63}$")
DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MAX_OUTPUT_CHARS = 4000


class ToolDefinitionError(TypeError):
    """A function cannot be a tool; the message says how to fix it."""


class _KeywordArgs(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


@dataclass(frozen=True, eq=False)
class Tool:
    """A tool: an async function plus what the rest of tandem needs to know about it.

    Calling the object calls the function itself (handy in a plugin's own tests); the thinker and
    the responder run it through :func:`tools.invoke`, which validates arguments, applies the
    timeout and turns every failure into an error result the model can read.
    """

    name: str
    description: str
    args_model: type[BaseModel]
    function: Callable[..., Awaitable[Any]] = field(repr=False)
    timeout_s: float = DEFAULT_TIMEOUT_S
    side_effects: bool = False
    needs_confirmation: bool = False
    latency: LatencyClass = "fast"
    responder_safe: bool = False
    max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS
    store_namespace: str = ""
    """Namespace of ``ctx.store``; tools sharing state (a booking family) share one."""
    progress: str | None = None
    """What the caller may hear when the tool starts, with ``{field}`` taken from the arguments,
    e.g. ``"checking availability for {party_size} people"``."""
    keyword_form: bool = field(default=False, repr=False)
    source: str = "unknown"
    """The distribution that registered the tool (set by the registry)."""

    def progress_line(self, args: BaseModel) -> str | None:
        """The tool's progress line for these arguments (None if it has none or it does not fit)."""
        if self.progress is None:
            return None
        try:
            return self.progress.format_map(args.model_dump())
        except (KeyError, IndexError, ValueError, AttributeError):
            return None

    def input_schema(self) -> dict[str, Any]:
        """The JSON schema of the arguments, as the model sees it (built once: treat it as
        read-only; every task's model request includes it)."""
        return self._schema

    @cached_property
    def _schema(self) -> dict[str, Any]:
        schema = self.args_model.model_json_schema()
        schema.pop("title", None)
        return schema

    async def call(self, ctx: ToolContext, args: BaseModel) -> Any:
        """Run the function with validated ``args``, with no timeout or error handling."""
        if self.keyword_form:
            return await self.function(
                ctx, **{k: getattr(args, k) for k in type(args).model_fields}
            )
        return await self.function(ctx, args)

    async def __call__(self, ctx: ToolContext, *args: Any, **kwargs: Any) -> Any:
        return await self.function(ctx, *args, **kwargs)


@overload
def tool(function: Callable[..., Awaitable[Any]], /) -> Tool: ...


@overload
def tool(
    *,
    name: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    side_effects: bool = False,
    needs_confirmation: bool = False,
    latency: LatencyClass = "fast",
    responder_safe: bool = False,
    max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS,
    store: str | None = None,
    progress: str | None = None,
) -> Callable[[Callable[..., Awaitable[Any]]], Tool]: ...


def tool(
    function: Callable[..., Awaitable[Any]] | None = None,
    /,
    *,
    name: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    side_effects: bool = False,
    needs_confirmation: bool = False,
    latency: LatencyClass = "fast",
    responder_safe: bool = False,
    max_output_chars: int = DEFAULT_MAX_OUTPUT_CHARS,
    store: str | None = None,
    progress: str | None = None,
) -> Tool | Callable[[Callable[..., Awaitable[Any]]], Tool]:
    """Make an async function a tool.

    The function takes a :class:`ToolContext` first, then either one pydantic model (the
    arguments) or typed keyword parameters (turned into one). Its docstring is the description the
    model reads. ``side_effects`` marks tools that change the world (booking, payment, sending):
    they get an idempotency key and never run in the responder. ``needs_confirmation`` tools run
    only once the caller has explicitly said yes. ``latency`` tells the responder whether to mask
    the wait. ``responder_safe`` lets a fast tool without side effects run inside the responder.
    ``store`` names the namespace of ``ctx.store`` (default: the tool's name), so a family of
    tools can share state. ``progress`` is the line the caller may hear when the tool starts
    (``{field}`` placeholders are filled from the arguments).
    """

    def make(fn: Callable[..., Awaitable[Any]]) -> Tool:
        return _make_tool(
            fn,
            name=name,
            timeout_s=timeout_s,
            side_effects=side_effects,
            needs_confirmation=needs_confirmation,
            latency=latency,
            responder_safe=responder_safe,
            max_output_chars=max_output_chars,
            store_namespace=store,
            progress=progress,
        )

    return make(function) if function is not None else make


def _make_tool(
    fn: Callable[..., Awaitable[Any]],
    *,
    name: str | None,
    store_namespace: str | None,
    **options: Any,
) -> Tool:
    label = getattr(fn, "__qualname__", repr(fn))
    if not inspect.iscoroutinefunction(fn):
        raise ToolDefinitionError(
            f"tool {label}: make it `async def` (tools run on the event loop)"
        )
    tool_name = name or fn.__name__
    if not NAME_PATTERN.match(tool_name):
        raise ToolDefinitionError(
            f"tool {label}: name {tool_name!r} must be 1-64 letters, digits, '_' or '-', "
            "starting with a letter; pass name='...' to choose another"
        )
    docstring = inspect.getdoc(fn)
    if not docstring:
        raise ToolDefinitionError(
            f"tool {label}: add a docstring; it is the description the model reads to decide "
            "when to call the tool"
        )
    # the model reads prose: join the docstring's wrapped lines, keep its paragraphs
    description = "\n\n".join(" ".join(part.split()) for part in docstring.split("\n\n"))
    _check_options(label, options)
    args_model, keyword_form = _arguments(fn, label, tool_name)
    return Tool(
        name=tool_name,
        description=description,
        args_model=args_model,
        function=fn,
        keyword_form=keyword_form,
        store_namespace=store_namespace or tool_name,
        **options,
    )


def _check_options(label: str, options: dict[str, Any]) -> None:
    if options["timeout_s"] <= 0:
        raise ToolDefinitionError(f"tool {label}: timeout_s must be positive")
    if options["max_output_chars"] < 100:
        raise ToolDefinitionError(f"tool {label}: max_output_chars must be at least 100")
    if options["latency"] not in ("fast", "slow"):
        raise ToolDefinitionError(f"tool {label}: latency must be 'fast' or 'slow'")
    if options["responder_safe"] and (options["side_effects"] or options["latency"] != "fast"):
        raise ToolDefinitionError(
            f"tool {label}: responder_safe tools must be fast and free of side effects; "
            "drop responder_safe=True to run it in the thinker"
        )
    if options["responder_safe"] and options["needs_confirmation"]:
        raise ToolDefinitionError(
            f"tool {label}: a tool that needs confirmation runs in the thinker only"
        )


_SIGNATURE_HELP = (
    "use `async def f(ctx: ToolContext, args: MyArgs)` with a pydantic model, or "
    "`async def f(ctx: ToolContext, city: str, days: int = 1)` with typed keyword parameters"
)


def _arguments(
    fn: Callable[..., Awaitable[Any]], label: str, tool_name: str
) -> tuple[type[BaseModel], bool]:
    params = list(inspect.signature(fn).parameters.values())
    try:
        hints = get_type_hints(fn, include_extras=True)
    except Exception as error:
        raise ToolDefinitionError(f"tool {label}: cannot read its type hints ({error})") from None
    if not params or params[0].kind not in (
        params[0].POSITIONAL_ONLY,
        params[0].POSITIONAL_OR_KEYWORD,
    ):
        raise ToolDefinitionError(
            f"tool {label}: the first parameter must be the ToolContext; {_SIGNATURE_HELP}"
        )
    if hints.get(params[0].name, ToolContext) is not ToolContext:
        raise ToolDefinitionError(f"tool {label}: annotate the first parameter as ToolContext")
    rest = params[1:]
    for param in rest:
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.POSITIONAL_ONLY):
            raise ToolDefinitionError(
                f"tool {label}: *args, **kwargs and positional-only parameters are not "
                f"supported; {_SIGNATURE_HELP}"
            )
        if param.name not in hints:
            raise ToolDefinitionError(
                f"tool {label}: parameter {param.name!r} needs a type annotation"
            )
    if (
        len(rest) == 1
        and inspect.isclass(hints[rest[0].name])
        and issubclass(hints[rest[0].name], BaseModel)
    ):
        if rest[0].default is not inspect.Parameter.empty:
            raise ToolDefinitionError(
                f"tool {label}: the arguments model parameter cannot have a default"
            )
        return hints[rest[0].name], False
    for param in rest:
        annotation = hints[param.name]
        if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
            raise ToolDefinitionError(
                f"tool {label}: take either one pydantic model or keyword parameters, not both; "
                + _SIGNATURE_HELP
            )
    fields: dict[str, Any] = {
        param.name: (
            hints[param.name],
            ... if param.default is inspect.Parameter.empty else param.default,
        )
        for param in rest
    }
    model_name = "".join(part.capitalize() for part in re.split(r"[_-]", tool_name)) + "Args"
    try:
        model = create_model(model_name, __base__=_KeywordArgs, **fields)
    except Exception as error:
        raise ToolDefinitionError(
            f"tool {label}: its parameters cannot form a JSON schema ({error})"
        ) from None
    return model, True
