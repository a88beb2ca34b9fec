"""The tool plugin API: everything a plugin author needs.

.. code-block:: python

    from pydantic import BaseModel, Field
    from tools import ToolContext, ToolError, tool

    class WeatherArgs(BaseModel):
        city: str = Field(description="City name, e.g. 'Lisbon'")

    @tool(timeout_s=3.0, latency="slow")
    async def get_weather(ctx: ToolContext, args: WeatherArgs) -> str:
        \"\"\"Current weather for a city. Use when the caller asks about weather.\"\"\"
        ...

Register it in your package's ``pyproject.toml``::

    [project.entry-points."tandem.tools"]
    get_weather = "acme_weather:get_weather"

Depends only on ``shared``; the thinker and the responder run tools through :func:`invoke`.
"""

from shared.errors import ToolError
from shared.knowledge import Section
from shared.profile import Profile
from tools._context import ToolContext, ToolStore, derive_idempotency_key
from tools._definition import LatencyClass, Tool, ToolDefinitionError, tool
from tools._formats import to_anthropic, to_livekit
from tools._invoke import ToolResult, invoke
from tools.registry import PluginProblem, ToolRegistry, ToolRegistryError

__all__ = [
    "LatencyClass",
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
    "to_anthropic",
    "to_livekit",
    "tool",
]
