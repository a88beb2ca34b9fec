"""The demo restaurant, Trattoria Tandem: tandem's default profile.

Everything restaurant-specific lives here: ``profile.toml`` (the persona and the tools it may
use), ``knowledge/restaurant.md``, the booking tools (:mod:`profiles.restaurant.tools`, a tool
plugin acting on :mod:`profiles.restaurant.facts`), the rule-based offline brains of both sides
(:mod:`profiles.restaurant.thinker_brain`, :mod:`profiles.restaurant.front_desk`) and the
simulated calls in ``scenarios/``.
"""
