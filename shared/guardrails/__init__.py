"""Guardrails at realtime pace: fast rules on the three sides of a call.

* ``caller``: what the caller said (transcripts). Hits ask to ``redirect`` (steer back) or to
  ``end_call`` (threats).
* ``thinker``: a thinker's result before it reaches the call. :meth:`Guardrails.clean` redacts
  personal data, removes sentences that read as instructions to the assistant, and drops a
  result that contradicts its tool outputs.
* ``agent``: the agent's own sentences, held back one at a time (:func:`complete_sentences`);
  a hit asks to ``correct`` (hold back or interrupt the sentence).

Rules are synchronous and pure (regular expressions and keywords, microseconds each); an
optional :class:`Classifier` (``TANDEM_SESSION_GUARDRAIL_CLASSIFIER``, e.g. a model call) runs
asynchronously beside them. A :class:`Hit`'s ``reason`` is safe to log: never the text.

.. code-block:: python

    guardrails = Guardrails.for_profile(profile)
    for hit in guardrails.check("caller", transcript):
        ...  # hit.action: "redirect" or "end_call"
    cleaned = guardrails.clean(answer, tool_outputs=outputs)
    if not cleaned.dropped:
        publish(cleaned.text)
"""

from shared.guardrails._engine import (
    BUILT_IN_RULES,
    CLASSIFIER_SETTING,
    Cleaned,
    Guardrails,
    load_classifier,
)
from shared.guardrails._sentences import complete_sentences, split_sentences
from shared.guardrails._types import (
    Action,
    Classifier,
    Hit,
    Rule,
    RuleContext,
    Severity,
    Side,
)

__all__ = [
    "BUILT_IN_RULES",
    "CLASSIFIER_SETTING",
    "Action",
    "Classifier",
    "Cleaned",
    "Guardrails",
    "Hit",
    "Rule",
    "RuleContext",
    "Severity",
    "Side",
    "complete_sentences",
    "load_classifier",
    "split_sentences",
]
