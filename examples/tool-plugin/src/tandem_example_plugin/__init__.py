"""An example tandem tool plugin: one tool, ``wine_pairing``, registered in ``pyproject.toml``."""

from __future__ import annotations

import re

from pydantic import BaseModel, Field

from tools import CleanText, ToolContext, ToolError, tool

__all__ = ["PAIRINGS", "WinePairingArgs", "wine_pairing"]

PAIRINGS: tuple[tuple[frozenset[str], str, str], ...] = (
    # (words in the dish, the wine, why it works): the first match wins, so specific words go first
    (
        frozenset({"oyster", "clam", "mussel", "shellfish"}),
        "a Muscadet",
        "it is bone-dry and a little salty, like the sea",
    ),
    (
        frozenset({"lobster", "crab", "prawn", "shrimp", "scallop"}),
        "an oaked Chardonnay",
        "its richness matches sweet shellfish",
    ),
    (frozenset({"salmon", "tuna"}), "a Pinot Noir", "a light red is lovely with oily fish"),
    (
        frozenset({"fish", "cod", "bass", "bream", "sole", "sardine", "octopus"}),
        "an Alvarinho",
        "its crisp acidity lifts white fish",
    ),
    (
        frozenset({"steak", "beef", "lamb", "venison", "burger"}),
        "a Douro red",
        "its tannins stand up to red meat",
    ),
    (frozenset({"duck", "pork", "chicken", "turkey"}), "a Pinot Noir", "it is soft and fruity"),
    (frozenset({"mushroom", "truffle", "risotto"}), "a Nebbiolo", "it is earthy like the dish"),
    (
        frozenset({"curry", "spicy", "chili", "thai"}),
        "an off-dry Riesling",
        "a touch of sweetness cools the heat",
    ),
    (
        frozenset({"pizza", "pasta", "tomato", "lasagna", "bolognese"}),
        "a Chianti",
        "its acidity matches the tomato",
    ),
    (frozenset({"cheese", "brie", "camembert"}), "a Champagne", "bubbles cut through the cream"),
    (
        frozenset({"chocolate", "dessert", "cake", "tart"}),
        "a tawny Port",
        "a dessert wine should be sweeter than the dessert",
    ),
    (
        frozenset({"salad", "vegetable", "asparagus", "vegan"}),
        "a Sauvignon Blanc",
        "its green, zesty notes suit vegetables",
    ),
)
FALLBACK = ("a dry rosé", "it goes with almost anything")


class WinePairingArgs(BaseModel):
    """The arguments of :func:`wine_pairing`."""

    dish: CleanText = Field(
        max_length=200, description="The dish, in the caller's words, e.g. 'grilled sea bass'"
    )


@tool(timeout_s=1.0, responder_safe=True)
async def wine_pairing(ctx: ToolContext, args: WinePairingArgs) -> str:
    """Suggest a wine to go with a dish.

    Use when the caller asks what to drink with a dish or which wine goes with their order.
    Returns one suggestion and the reason, ready to say out loud.
    """
    words = set(re.findall(r"[a-z]+", args.dish.lower()))
    if not words:
        raise ToolError("which dish should the wine go with? Ask the caller.")
    words |= {word.removesuffix("s") for word in words}  # "oysters" -> "oyster"
    wine, why = next(
        ((wine, why) for keys, wine, why in PAIRINGS if keys & words),
        FALLBACK,
    )
    ctx.log.debug("paired", extra={"wine": wine})
    return f"Try {wine}: {why}."
