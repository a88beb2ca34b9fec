"""The guardrails of one agent: its rules and optional classifier, and what the thinker side
does with their hits (:meth:`Guardrails.clean`)."""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from inspect import iscoroutinefunction

from shared.errors import ConfigError
from shared.guardrails._agent import InstructionLeak, Rudeness
from shared.guardrails._caller import CallerAbuse, InstructionExtraction, OffDomain
from shared.guardrails._contradiction import Contradiction
from shared.guardrails._injection import PromptInjection
from shared.guardrails._personal import PersonalData
from shared.guardrails._sentences import sentence_spans
from shared.guardrails._types import Classifier, Hit, Rule, RuleContext, Side
from shared.profile import Profile

log = logging.getLogger(__name__)

_PLACEHOLDER = re.compile(r"\[[^\]]* withheld\]")
CLASSIFIER_SETTING = "TANDEM_SESSION_GUARDRAIL_CLASSIFIER"

BUILT_IN_RULES: tuple[Rule, ...] = (
    InstructionExtraction(),
    CallerAbuse(),
    OffDomain(),
    Contradiction(),
    PromptInjection(),
    PersonalData("thinker"),
    PersonalData("agent"),
    InstructionLeak(),
    Rudeness(),
)
"""Every built-in rule, in the order they run."""


@dataclass(frozen=True)
class Cleaned:
    """A thinker result after :meth:`Guardrails.clean`: the text to publish (personal data
    replaced, instruction-like sentences removed), every hit, and ``dropped`` when nothing
    usable is left or the result contradicts its tool outputs (``text`` is then empty)."""

    text: str
    hits: tuple[Hit, ...]
    dropped: bool


class Guardrails:
    """Rules (default :data:`BUILT_IN_RULES`) and an optional classifier over one context."""

    def __init__(
        self,
        context: RuleContext,
        rules: Iterable[Rule] = BUILT_IN_RULES,
        classifier: Classifier | None = None,
    ) -> None:
        self.context = context
        self.rules = tuple(rules)
        self.classifier = classifier
        self._by_side: dict[Side, tuple[Rule, ...]] = {
            side: tuple(rule for rule in self.rules if side in rule.sides)
            for side in ("caller", "thinker", "agent")
        }

    @classmethod
    def for_profile(cls, profile: Profile, classifier: Classifier | None = None) -> Guardrails:
        """The built-in rules over ``profile``'s context."""
        return cls(RuleContext.for_profile(profile), classifier=classifier)

    def check(self, side: Side, text: str, *, tool_outputs: Sequence[str] = ()) -> list[Hit]:
        """Every rule of ``side`` on ``text`` (synchronous, fast). ``tool_outputs``: what a
        thinker result was built from, for this check only."""
        ctx = self.context
        if tool_outputs:
            ctx = replace(ctx, tool_outputs=tuple(tool_outputs))
        return [hit for rule in self._by_side[side] for hit in rule.check(text, ctx)]

    async def classify(self, side: Side, text: str) -> list[Hit]:
        """The classifier's hits ([] without one). A classifier that fails is logged, without
        the text, and finds nothing: the rules still stand."""
        if self.classifier is None:
            return []
        try:
            return list(await self.classifier.classify(side, text, self.context))
        except Exception as error:
            log.warning(
                "guardrail classifier failed", extra={"side": side, "error": type(error).__name__}
            )
            return []

    def clean(self, text: str, *, tool_outputs: Sequence[str] = ()) -> Cleaned:
        """A thinker result made safe to say: ``redact`` hits replaced by what was withheld
        ("[card number withheld]"), the sentence of each ``drop`` hit removed, and the whole
        result dropped for a ``drop`` hit without a span or when nothing is left."""
        found = tuple(self.check("thinker", text, tool_outputs=tool_outputs))
        if any(hit.action == "drop" and hit.span is None for hit in found):
            return Cleaned("", found, dropped=True)
        drops = [hit.span for hit in found if hit.action == "drop" and hit.span is not None]
        redactions = sorted(
            (hit.span, hit.reason) for hit in found if hit.action == "redact" and hit.span
        )
        kept = []
        for start, end in sentence_spans(text):
            if any(a < end and start < b for a, b in drops):
                continue
            kept.append(_redact(text, start, end, redactions))
        cleaned = " ".join(kept)
        return Cleaned(cleaned, found, dropped=not any(ch.isalnum() for ch in _bare(cleaned)))


def _redact(text: str, start: int, end: int, redactions: list[tuple[tuple[int, int], str]]) -> str:
    out: list[str] = []
    at = start
    for (a, b), reason in redactions:
        if a >= end or b <= start or a < at:
            continue
        out.extend((text[at:a], f"[{reason} withheld]"))
        at = b
    out.append(text[at:end])
    return "".join(out)


def _bare(text: str) -> str:
    """``text`` without its placeholders: a result of nothing but "[... withheld]" is empty."""
    return _PLACEHOLDER.sub("", text)


def load_classifier(target: str) -> Classifier:
    """The classifier ``target`` (``"module:factory"``) makes, the factory called with no
    arguments; :class:`ConfigError` naming ``TANDEM_SESSION_GUARDRAIL_CLASSIFIER`` when it
    cannot be imported, fails, or does not make a classifier."""
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise ConfigError(f"{CLASSIFIER_SETTING}: expected 'module:factory', got {target!r}")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except Exception as error:
        raise ConfigError(
            f"{CLASSIFIER_SETTING}: {target!r} cannot be imported ({type(error).__name__}: {error})"
        ) from None
    try:
        classifier = factory()
    except Exception as error:
        raise ConfigError(
            f"{CLASSIFIER_SETTING}: {target!r} failed to make a classifier "
            f"({type(error).__name__}: {error})"
        ) from None
    method = getattr(classifier, "classify", None)
    if not isinstance(classifier, Classifier) or not iscoroutinefunction(method):
        raise ConfigError(
            f"{CLASSIFIER_SETTING}: {target!r} made a {type(classifier).__name__}, not a "
            "classifier (an object with 'async def classify(side, text, ctx)')"
        )
    return classifier
