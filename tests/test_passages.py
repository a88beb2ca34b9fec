"""Picking the sentence of a knowledge section that answers a question (shared/passages.py)."""

from __future__ import annotations

from shared.passages import best_passages, split_passages

DIETARY = """## Dietary needs
Allergens per dish:

- Bruschetta: gluten. Vegan.
- Risotto: dairy. Vegetarian, gluten-free.

Any pasta dish can be made with gluten-free pasta for 2 euros extra.
Vegetarian options: burrata, risotto and most desserts. Vegan options: bruschetta and sorbet.
"""


def test_a_question_gets_the_sentence_about_what_it_asks_not_one_that_shares_filler_words() -> None:
    # "any" and "dish" appear in the gluten-free sentence; only "vegetarian" says what is asked
    (picked,) = best_passages(DIETARY, "Do you have any vegetarian dishes?", limit=1)
    assert picked.startswith("Vegetarian options")


def test_a_passage_sharing_no_word_with_the_question_is_never_picked() -> None:
    assert best_passages(DIETARY, "Is there live music on Fridays?") == []


def test_passages_are_list_items_and_sentences_without_headings_or_lead_ins() -> None:
    passages = split_passages(DIETARY)
    assert "Bruschetta: gluten. Vegan." in passages
    assert "Vegan options: bruschetta and sorbet." in passages
    assert not any(p.endswith(":") or p.startswith("#") for p in passages)
