"""The generic offline thinker brain: answers from its profile's knowledge, honestly, or says it
can't.

Profiles are written to ``tmp_path`` and loaded as tandem loads any profile; the brain gets a
real :class:`~thinker.brain.BrainContext` whose tools fail the test if called (it has no model to
call them with).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shared.bus import TaskOutcome
from shared.profile import Profile
from shared.wire import TaskRequest
from tests.tool_helpers import write_profile
from thinker.brain import BrainContext
from thinker.offline_brain import (
    TAKE_A_MESSAGE,
    KnowledgeBrain,
    cant_offline,
    dont_have,
    what_about,
)
from tools import ToolResult

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # Tuesday; 11:00 in Halifax, 15:00 in Lisbon

BIKES = """\
# Harbor Bikes

## Opening hours

We are open Monday to Saturday and closed on Sundays.

- Monday to Friday: 09:00 to 18:00
- Saturday: 10:00 to 16:00
- Sunday: closed

## Repairs and prices

A **basic tune-up** costs $45 and takes one day. A flat tyre is fixed while you wait for $15.
We repair e-bikes too; see [our e-bike page](https://example.com/ebikes) for the brands.

## Parking

Bike parking racks are by the front door. Car parking is on Water Street, free after 18:00.

## Address

We are at 1575 Lower Water Street, Halifax, on the waterfront.
"""

CLINIC = """\
## Opening hours

The clinic is open Monday to Thursday from 08:00 to 20:00, and Friday mornings.

## Parking

There is no parking at the clinic; the nearest car park is on Elm Road.
"""


class Asker:
    """Asks a brain with a real BrainContext; records partials."""

    def __init__(self, brain: KnowledgeBrain, profile: Profile) -> None:
        self.brain = brain
        self.profile = profile
        self.partials: list[str] = []

    async def ask(self, request: str) -> TaskOutcome:
        task = TaskRequest.create(
            session_id="call-1", request=request, epoch=0, timeout_s=30, profile=self.profile.id
        )

        async def call_tool(name: str, arguments: Mapping[str, Any] | str) -> ToolResult:
            raise AssertionError(f"the offline knowledge brain called the tool {name}")

        async def progress(message: str) -> None:
            raise AssertionError(f"unexpected progress line {message!r}")

        async def partial(text: str) -> None:
            self.partials.append(text)

        ctx = BrainContext(task, [], call_tool, progress, partial, lambda: 30.0, self.profile)
        return await self.brain.answer(ctx)


@pytest.fixture
def bikes(tmp_path: Path) -> Profile:
    return write_profile(
        tmp_path / "harbor-bikes", name="Harbor Bikes", knowledge=BIKES, timezone="America/Halifax"
    )


@pytest.fixture
def clinic(tmp_path: Path) -> Profile:
    return write_profile(tmp_path / "elm-clinic", name="Elm Street Clinic", knowledge=CLINIC)


def asker(profile: Profile) -> Asker:
    return Asker(KnowledgeBrain(profile, clock=lambda: NOW), profile)


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        ("Are you open on Saturday?", "Saturday: 10:00 to 16:00."),
        ("How much is a tune-up?", "A basic tune-up costs $45 and takes one day."),
        ("Do you repair e-bikes?", "We repair e-bikes too; see our e-bike page for the brands."),
        (
            "Is there car parking nearby?",
            "Car parking is on Water Street, free after 18:00.",
        ),
        ("Where are you?", "We are at 1575 Lower Water Street, Halifax, on the waterfront."),
        (
            "Are you open today?",  # Tuesday in Halifax
            "Today is Tuesday. Monday to Friday: 09:00 to 18:00.",
        ),
    ],
)
async def test_a_question_gets_the_passage_asked_about_as_spoken_sentences(
    bikes: Profile, question: str, answer: str
) -> None:
    outcome = await asker(bikes).ask(question)
    assert outcome.text == answer
    assert outcome.data["brain"] == "offline-knowledge"
    assert outcome.data["intent"] == "knowledge"


@pytest.mark.parametrize(
    "question",
    [
        "Do you sell pizza?",
        "Who won the football last night?",
        "Do you sell parking sensors?",  # shares "parking" with a section, not what it is about
        "Can I rent a kayak?",
    ],
)
async def test_what_the_knowledge_does_not_say_gets_an_honest_i_dont_have_that(
    bikes: Profile, question: str
) -> None:
    outcome = await asker(bikes).ask(question)
    assert outcome.text == dont_have(bikes)
    assert outcome.text.startswith("Sorry, I don't have that information")
    assert outcome.data["intent"] == "unknown"
    assert outcome.data["sections"] == []


@pytest.mark.parametrize(
    "request_",
    [
        "Book me a tune-up for Friday morning.",
        "I'd like to cancel my repair.",
        "Can you put me through to the mechanic?",
        "Where is my order?",
    ],
)
async def test_a_request_to_do_something_is_honestly_refused_offline(
    bikes: Profile, request_: str
) -> None:
    outcome = await asker(bikes).ask(request_)
    assert outcome.text == cant_offline(bikes)
    assert "I'm running offline" in outcome.text
    assert outcome.data["intent"] == "offline"


async def test_each_profile_is_answered_from_its_own_knowledge_only(
    bikes: Profile, clinic: Profile
) -> None:
    shop, doctor = asker(bikes), asker(clinic)
    assert (await shop.ask("Where can I park?")).text == (
        "Bike parking racks are by the front door. "
        "Car parking is on Water Street, free after 18:00."
    )
    assert (await doctor.ask("Where can I park?")).text == (
        "There is no parking at the clinic; the nearest car park is on Elm Road."
    )
    assert (await doctor.ask("How much is a tune-up?")).text == dont_have(clinic)
    assert (await shop.ask("Are you open on Friday mornings?")).text != (
        await doctor.ask("Are you open on Friday mornings?")
    ).text
    # a brain built for one profile still answers a task for another from that one's knowledge
    crossed = Asker(KnowledgeBrain(bikes, clock=lambda: NOW), clinic)
    assert "Elm Road" in (await crossed.ask("Is there parking?")).text


async def test_two_questions_get_two_answers_and_the_first_early(bikes: Profile) -> None:
    desk = asker(bikes)
    outcome = await desk.ask("Are you open on Sunday and how much is a flat tyre?")
    assert desk.partials == ["Sunday: closed."]
    assert outcome.text == "Sunday: closed. A flat tyre is fixed while you wait for $15."
    assert outcome.data["intent"] == "knowledge+knowledge"
    assert outcome.data["sections"] == ["Opening hours", "Repairs and prices"]


async def test_a_mixed_request_answers_what_it_can_and_says_what_it_cannot(
    bikes: Profile,
) -> None:
    outcome = await asker(bikes).ask("Yes, sorry. Book me a tune-up. Are you open on Saturday?")
    assert outcome.text == f"{cant_offline(bikes)} Saturday: 10:00 to 16:00."
    assert outcome.data["intent"] == "offline+knowledge"


async def test_a_profile_without_knowledge_knows_nothing(tmp_path: Path) -> None:
    (tmp_path / "bare").mkdir()
    (tmp_path / "bare" / "profile.toml").write_text(
        'name = "Bare"\ntimezone = "UTC"\n[persona]\ninstructions = "x"\ngreeting = "Hi."\n'
        'goodbye = "Bye."\n'
    )
    from shared.profile import load_profile

    bare = load_profile(tmp_path / "bare")
    assert (await asker(bare).ask("What are your opening hours?")).text == dont_have(bare)


async def test_a_long_passage_is_cut_to_phone_length(tmp_path: Path) -> None:
    menu = ", ".join(f"dish number {n} with a long description" for n in range(30))
    profile = write_profile(
        tmp_path / "diner", name="Diner", knowledge=f"## Menu\nOur menu: {menu}"
    )
    outcome = await asker(profile).ask("What is on the menu?")
    assert len(outcome.text) <= 320
    assert outcome.text.startswith("Our menu: dish number 0 with a long description, dish")
    assert outcome.text.endswith("with a long description.")


def test_it_is_built_as_the_thinker_builds_any_offline_brain(bikes: Profile) -> None:
    brain = KnowledgeBrain(bikes, 0.5)
    assert brain.name == "offline-knowledge"


async def test_words_a_caller_uses_find_the_words_the_knowledge_uses(tmp_path: Path) -> None:
    studio = write_profile(
        tmp_path / "studio",
        name="Sunrise Yoga",
        knowledge=(
            "# Sunrise Yoga\n\n## Location\n\nThe studio is at Lindenstrasse 12, on the second "
            "floor.\n\n## Classes\n\nWe teach Hatha and Yin yoga.\n"
        ),
    )
    for question in ("Where are you located?", "What's your address?", "Where can I find you?"):
        assert "Lindenstrasse 12" in (await asker(studio).ask(question)).text, question
    # what the knowledge never mentions is still not answered from a near passage
    assert (await asker(studio).ask("Do you do hot yoga?")).text == dont_have(studio)


async def test_a_question_about_what_is_needed_is_not_taken_for_a_request(tmp_path: Path) -> None:
    studio = write_profile(
        tmp_path / "studio",
        name="Sunrise Yoga",
        knowledge=(
            "# S\n\n## Booking\n\nNo need to book a class in advance: just come ten minutes "
            "early.\n"
        ),
    )
    answer = (await asker(studio).ask("Do I need to book a class in advance?")).text
    assert "just come ten minutes early" in answer


# --- the kind of each outcome: nothing here is a failure to retry -------------------------------


async def test_each_outcome_says_what_kind_it_is(bikes: Profile) -> None:
    shop = asker(bikes)
    answered = await shop.ask("Are you open on Saturday?")
    unknown = await shop.ask("Do you have live music?")
    offline = await shop.ask("Book me a tune-up for Friday morning.")
    unclear = await shop.ask("Yes, please.")
    assert [o.kind for o in (answered, unknown, offline, unclear)] == [
        "answer",
        "unknown",
        "unknown",
        "needs_detail",
    ]
    assert unclear.text == what_about(bikes) == "What would you like to know about Harbor Bikes?"
    assert unclear.data["intent"] == "unclear"
    for outcome in (unknown, offline):  # said plainly, with an offer to take a message
        assert outcome.text.endswith(TAKE_A_MESSAGE)
        assert "try again" not in outcome.text


async def test_a_request_that_is_partly_answered_is_an_answer(bikes: Profile) -> None:
    outcome = await asker(bikes).ask("Are you open on Sunday and do you have live music?")
    assert outcome.kind == "answer"
    assert outcome.text == f"Sunday: closed. {dont_have(bikes)}"
    assert outcome.data["intent"] == "knowledge+unknown"
