"""Text in a thinker's result (from a tool output or a knowledge passage it quotes) that reads
as instructions to the assistant rather than facts for the caller."""

from __future__ import annotations

from shared.guardrails._patterns import APOSTROPHE as A
from shared.guardrails._patterns import hits, phrases, spans_of
from shared.guardrails._types import Hit, RuleContext, Side

_THINKER: frozenset[Side] = frozenset({"thinker"})

_INJECTION = phrases(
    r"(?:ignore|disregard|forget|override) (?:all |any |the |your |of |these |those )*"
    r"(?:previous|prior|above|earlier|preceding|other|original|system|existing) "
    r"(?:instructions|directions|rules|messages|prompts?|context|guidelines)",
    r"(?:ignore|disregard|forget) (?:the |everything |all )*(?:above|before this|said before)",
    r"you must now|from now on,? you|you are now (?:a|an|the|in|free|no longer)",
    r"as (?:the|an|an ai|a) (?:assistant|agent|ai|language model|voice agent|bot),? you "
    r"(?:should|must|will|need to|have to|are to)",
    r"(?:new|updated|revised|additional|secret|hidden) instructions",
    r"(?:note|message|instructions?|important) (?:to|for) (?:the )?(?:assistant|ai|agent|model|"
    r"llm|bot)",
    rf"(?:do not|don{A}t|never) (?:tell|mention|inform|reveal|say|disclose)(?: this| it| anything|"
    r" that)?(?: to)? (?:the )?(?:caller|customer|user|guest)s?",
    r"(?:tell|inform|say to|assure) (?:the )?(?:caller|customer|user|guest)s? (?:that )?"
    r"(?:\w+ ){0,8}(?:free of charge|for free|is free|are free|no charge|complimentary|"
    r"costs? nothing|\d+\s?% off|percent off|a discount|a full refund|refunds? (?:are|is) "
    r"guaranteed)",
    r"(?:reveal|print|output|repeat) (?:your|the) (?:system prompt|instructions|prompt)",
    r"system prompt",
    r"<\s*/?\s*(?:system|assistant|instructions?|im_start|im_end)\s*>|<<\s*sys\s*>>|"
    r"\[/?(?:inst|system)\]",
)
_ROLE_MARKER = phrases(r"(?:system|assistant|developer)\s*:(?!\d)")


class PromptInjection:
    """Drops each sentence of a thinker result that addresses the assistant ("ignore previous
    instructions", "you must now...", "do not tell the caller", a role marker such as
    "system:" at the start of a line or sentence)."""

    name = "prompt_injection"
    sides = _THINKER

    def check(self, text: str, ctx: RuleContext) -> list[Hit]:
        """One hit per instruction found."""
        spans = list(spans_of(_INJECTION, text))
        for start, end in spans_of(_ROLE_MARKER, text):
            before = text[:start].rstrip(" \t\"'*#>-")
            if not before or before.endswith(("\n", ".", "!", "?", ":")):
                spans.append((start, end))
        return hits(
            sorted(spans),
            rule=self.name,
            side="thinker",
            action="drop",
            severity="high",
            reason="reads as instructions to the assistant",
        )
