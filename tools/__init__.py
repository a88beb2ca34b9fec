"""The tool plugin API: everything a plugin author needs.

.. code-block:: python

    from pydantic import BaseModel, Field
    from tools import CleanText, ToolContext, ToolError, tool

    class WeatherArgs(BaseModel):
        city: CleanText = Field(max_length=100, description="City name, e.g. 'Lisbon'")

    @tool(timeout_s=3.0, latency="slow")
    async def get_weather(ctx: ToolContext, args: WeatherArgs) -> str:
        \"\"\"Current weather for a city. Use when the caller asks about weather.\"\"\"
        ...

Register it in your package's ``pyproject.toml``::

    [project.entry-points."tandem.tools"]
    get_weather = "acme_weather:get_weather"

Arguments are validated strictly (no ``true`` or ``"3"`` for an integer); type text fields as
:data:`CleanText` (one line, trimmed, no control characters) or :data:`PersonName`. Everything a
tool returns reaches the model through :func:`strip_control_characters`.

Depends only on ``shared``; the thinker and the responder run tools through :func:`invoke`.
"""

from shared.errors import ToolError
from shared.knowledge import Section
from shared.profile import Profile
from tools._context import ToolContext, ToolStore, derive_idempotency_key
from tools._definition import LatencyClass, Tool, ToolDefinitionError, tool
from tools._formats import to_anthropic, to_livekit
from tools._invoke import ToolResult, invoke
from tools._text import CleanText, PersonName, strip_control_characters
from tools.registry import PluginProblem, ToolRegistry, ToolRegistryError

__all__ = [
    "CleanText",
    "LatencyClass",
    "PersonName",
    "PluginProblem",
    "Profile",
    "Section",
    "Tool",
    "ToolContext",
    "ToolDefinitionError",
    "ToolError",
    "ToolRegistry",
    "ToolRegistryError",
    "ToolResult",
    "ToolStore",
    "derive_idempotency_key",
    "invoke",
    "strip_control_characters",
    "to_anthropic",
    "to_livekit",
    "tool",
]
