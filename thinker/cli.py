"""``tandem thinker`` (also ``python -m thinker``): run a thinker worker process."""

from __future__ import annotations

import asyncio

import click

from shared.cli import settings_or_exit
from thinker.app import serve


@click.command("thinker")
def thinker_command() -> None:
    """Run a thinker: take tasks from the bus and answer them with Claude and the tools.

    Without ANTHROPIC_API_KEY the offline demo brain answers (and says so). Several processes on
    several machines share the work through the bus. SIGTERM drains gracefully.
    """
    asyncio.run(serve(settings_or_exit()))
