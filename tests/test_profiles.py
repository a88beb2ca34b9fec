"""Agent profiles as files: what loads, what is refused (naming the file and the field), how one
is found by path or by installed name, and what the agent is told."""

from __future__ import annotations

from pathlib import Path

import pytest

from responder.prompts import RULES, instructions_for
from shared.profile import ProfileError, find_profile, load_all, load_profile
from shared.wire import TaskRequest
from thinker.profiles import ProfileCatalog
from tools import ToolRegistry

GOOD = """
name = "Harbor Bikes"
timezone = "America/Halifax"
language = "en"
[persona]
instructions = "You are the friendly front desk of Harbor Bikes."
greeting = "Harbor Bikes, how can I help?"
goodbye = "Thanks for calling Harbor Bikes!"
[tools]
allow = ["search_knowledge", "current_time"]
[knowledge]
files = ["knowledge/shop.md"]
"""
SHOP = "# Shop\n\n## Hours\n\nOpen daily 9 to 5.\n\n## Prices\n\nA tune-up is 60 dollars.\n"


def make(root: Path, toml: str = GOOD, knowledge: str | None = SHOP) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "profile.toml").write_text(toml, encoding="utf-8")
    if knowledge is not None:
        (root / "knowledge").mkdir(exist_ok=True)
        (root / "knowledge" / "shop.md").write_text(knowledge, encoding="utf-8")
    return root


def test_a_profile_directory_loads_with_its_knowledge_sections(tmp_path: Path) -> None:
    profile = load_profile(make(tmp_path / "harbor-bikes"))
    assert profile.id == "harbor-bikes"
    assert profile.name == "Harbor Bikes"
    assert profile.timezone.key == "America/Halifax"
    assert [s.heading for s in profile.sections] == ["Hours", "Prices"]
    assert profile.sections[0].source == "knowledge/shop.md"
    assert profile.allowed_tools == ("search_knowledge", "current_time")
    assert load_profile(tmp_path / "harbor-bikes" / "profile.toml").id == "harbor-bikes"


@pytest.mark.parametrize(
    ("toml", "named"),
    [
        (GOOD.replace('timezone = "America/Halifax"', 'timezone = "Mars/Olympus"'), "timezone"),
        (GOOD.replace('greeting = "Harbor Bikes, how can I help?"\n', ""), "persona.greeting"),
        (GOOD.replace("[tools]", 'colour = "blue"\n[tools]'), "persona.colour: unknown key"),
        (GOOD.replace('language = "en"', 'language = "english!"'), "language"),
        (GOOD.replace('name = "Harbor Bikes"', 'name = ""'), "name"),
        ("name = [", "not valid TOML"),
    ],
)
def test_a_bad_profile_file_gets_one_message_naming_the_file_and_the_field(
    tmp_path: Path, toml: str, named: str
) -> None:
    root = make(tmp_path / "shop", toml)
    with pytest.raises(ProfileError) as caught:
        load_profile(root)
    message = str(caught.value)
    assert message.startswith(str(root / "profile.toml"))
    assert named in message
    assert "\n" not in message


def test_knowledge_files_must_exist_hold_sections_and_stay_inside_the_profile(
    tmp_path: Path,
) -> None:
    with pytest.raises(ProfileError, match=r"knowledge.files: knowledge/shop.md does not exist"):
        load_profile(make(tmp_path / "a", knowledge=None))
    with pytest.raises(ProfileError, match="has no '## ' sections"):
        load_profile(make(tmp_path / "b", knowledge="just prose, no sections"))
    outside = GOOD.replace('files = ["knowledge/shop.md"]', 'files = ["../secrets.md"]')
    (tmp_path / "secrets.md").write_text("## S\n\ns\n")
    with pytest.raises(ProfileError, match="outside the profile's directory"):
        load_profile(make(tmp_path / "c", outside))


def test_a_profile_is_found_by_path_or_by_installed_name_and_an_unknown_one_is_named(
    tmp_path: Path,
) -> None:
    assert find_profile(str(make(tmp_path / "shop"))).id == "shop"
    restaurant = find_profile("restaurant")
    assert restaurant.id == "restaurant"
    assert restaurant.sections
    with pytest.raises(ProfileError, match=r"no profile 'nope'.*installed: .*restaurant"):
        find_profile("nope")
    with pytest.raises(ProfileError, match="no such file"):
        find_profile(str(tmp_path / "missing"))


def test_every_installed_profile_loads_and_its_tools_exist() -> None:
    profiles = load_all([])
    assert "restaurant" in profiles
    registry = ToolRegistry.discover()
    for profile in profiles.values():
        missing = [name for name in profile.allowed_tools if name not in registry.tools]
        assert missing == [], f"{profile.id} allows tools that are not installed: {missing}"


def test_two_profiles_with_one_id_from_different_places_are_refused(tmp_path: Path) -> None:
    make(tmp_path / "one" / "shop")
    make(tmp_path / "two" / "shop")
    with pytest.raises(ProfileError, match="two profiles have the id 'shop'"):
        load_all([str(tmp_path / "one" / "shop"), str(tmp_path / "two" / "shop")])


def test_the_agent_is_told_its_persona_the_business_and_tandems_rules(tmp_path: Path) -> None:
    profile = load_profile(make(tmp_path / "shop"))
    told = instructions_for(profile, extra="Never discuss politics.")
    assert told.startswith("You are the friendly front desk of Harbor Bikes.")
    assert "You answer the phone for Harbor Bikes" in told
    assert "America/Halifax" in told
    assert RULES in told
    assert told.endswith("Never discuss politics.")


def test_a_task_gets_its_own_profile_and_an_unknown_one_is_a_clear_failure(
    tmp_path: Path,
) -> None:
    from shared.bus import TaskFailed

    shop = load_profile(make(tmp_path / "shop"))
    other = load_profile(make(tmp_path / "other"))
    catalog = ProfileCatalog({"shop": shop, "other": other})

    def task(profile: str | None) -> TaskRequest:
        return TaskRequest.create(
            session_id="s", request="hours?", epoch=0, timeout_s=5, profile=profile
        )

    assert catalog.for_task(task("other")) is other
    with pytest.raises(TaskFailed, match="does not serve the agent profile 'gym'") as caught:
        catalog.for_task(task("gym"))
    assert not caught.value.retryable
    with pytest.raises(TaskFailed, match="names no agent profile"):
        catalog.for_task(task(None))
    assert ProfileCatalog({"shop": shop}).for_task(task(None)) is shop  # the only one
    assert ProfileCatalog({"shop": shop, "other": other}, "other").for_task(task(None)) is other
