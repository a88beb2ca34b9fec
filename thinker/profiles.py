"""Which agent profile a task is for, and which offline brain answers for it.

One thinker pool serves every profile it can load: the installed ones and those ``TANDEM_PROFILE``
or ``--profile`` name. A task names its profile (``TaskRequest.profile``); the thinker answers it
with that profile's tools, knowledge and instructions. A task naming a profile this thinker does
not have fails with a clear reason, never with another business's answer.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from shared.bus import TaskFailed, TaskOutcome
from shared.profile import Profile, find_profile, load_all, offline_factory
from shared.wire import TaskRequest
from thinker.brain import Brain, BrainContext

log = logging.getLogger("tandem.thinker")


class ProfileCatalog:
    """The profiles a thinker serves, by id, and the one a task without a profile gets."""

    def __init__(self, profiles: dict[str, Profile], default: str | None = None) -> None:
        if default is not None and default not in profiles:
            raise ValueError(f"default profile {default!r} is not among the profiles")
        self.profiles = profiles
        self.default = default or (next(iter(profiles)) if len(profiles) == 1 else None)

    @classmethod
    def load(cls, selectors: Iterable[str]) -> ProfileCatalog:
        """Every installed profile plus those ``selectors`` name; the first selector (if any)
        is the default for tasks that name no profile."""
        chosen = [s for s in selectors if s]
        profiles = load_all(chosen)
        return cls(profiles, find_profile(chosen[0]).id if chosen else None)

    def for_task(self, task: TaskRequest) -> Profile:
        """The profile ``task`` is for; :class:`TaskFailed` (not worth retrying) when this
        thinker does not serve it."""
        wanted = task.profile or self.default
        if wanted is None:
            raise TaskFailed(
                "the task names no agent profile and this thinker serves several "
                f"({', '.join(sorted(self.profiles))}); set TANDEM_PROFILE on the thinker",
                retryable=False,
            )
        profile = self.profiles.get(wanted)
        if profile is None:
            raise TaskFailed(
                f"this thinker does not serve the agent profile {wanted!r} "
                f"(it serves {', '.join(sorted(self.profiles)) or 'none'})",
                retryable=False,
            )
        return profile


class OfflineBrains:
    """The offline stand-in for Claude: each task is answered by its profile's own rule-based
    brain (``[offline] thinker_brain``) or by the generic one that answers from the profile's
    knowledge. Rule-based, labelled, not a language model."""

    name = "offline"

    def __init__(self, think_s: float = 0.0) -> None:
        self._think_s = think_s
        self._brains: dict[str, Brain] = {}

    def for_profile(self, profile: Profile) -> Brain:
        """The brain that answers ``profile``'s tasks (made once)."""
        brain = self._brains.get(profile.id)
        if brain is None:
            factory = offline_factory(profile, "thinker")
            if factory is None:
                from thinker.offline_brain import KnowledgeBrain

                factory = KnowledgeBrain
            brain = self._brains[profile.id] = factory(profile, self._think_s)
        return brain

    async def answer(self, ctx: BrainContext) -> TaskOutcome:
        """Answer with the brain of the task's profile."""
        if ctx.profile is None:
            raise TaskFailed("the offline brain needs an agent profile", retryable=False)
        return await self.for_profile(ctx.profile).answer(ctx)
