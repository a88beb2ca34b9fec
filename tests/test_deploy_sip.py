"""The LiveKit SIP examples in ``deploy/sip/``: each file is the request ``lk sip ... create``
reads (a misspelled field fails), the dispatch rule sends calls to the agent name tandem
registers with an installed profile in its metadata, and every field is explained in
``deploy/sip/README.md`` (the README's tables and the files name the same fields)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from google.protobuf.message import Message
from livekit.protocol import sip

from shared.config import ResponderSettings
from shared.profile import installed_profiles

ROOT = Path(__file__).resolve().parents[1]
SIP_DIR = ROOT / "deploy" / "sip"
README = SIP_DIR / "README.md"
REQUESTS: dict[str, type[Message]] = {
    "inbound-trunk.json": sip.CreateSIPInboundTrunkRequest,
    "dispatch-rule.json": sip.CreateSIPDispatchRuleRequest,
    "outbound-trunk.json": sip.CreateSIPOutboundTrunkRequest,
}
"""Each example and the request message ``lk sip inbound|dispatch|outbound create`` reads it as."""
METADATA_KEYS = {"profile", "purpose"}
"""What the responder reads from dispatch metadata."""


def _load(name: str) -> Any:
    return json.loads((SIP_DIR / name).read_text(encoding="utf-8"))


def _parse(name: str) -> Message:
    message = REQUESTS[name]()
    json_format.Parse(
        (SIP_DIR / name).read_text(encoding="utf-8"), message, ignore_unknown_fields=False
    )
    return message


def _field_paths(value: Any, prefix: str = "") -> set[str]:
    """Every key in a JSON document as a dotted path; ``[]`` marks the items of a list of
    objects (``dispatch_rule.room_config.agents[].agent_name``)."""
    paths: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else key
            paths.add(path)
            paths |= _field_paths(item, path)
    elif isinstance(value, list):
        for item in value:
            paths |= _field_paths(item, f"{prefix}[]")
    return paths


def _readme_tables() -> dict[str, set[str]]:
    """The fields each README table explains, by the file its heading names: the backticked
    first cell of every row under a ``### `name.json``` heading."""
    tables: dict[str, set[str]] = {}
    current: str | None = None
    for line in README.read_text(encoding="utf-8").splitlines():
        heading = re.fullmatch(r"#+\s+`([\w.-]+\.json)`\s*", line)
        if heading:
            current = heading.group(1)
            tables.setdefault(current, set())
        elif line.startswith("#"):
            current = None
        elif current is not None and line.startswith("|"):
            first_cell = line.strip("|").split("|")[0].strip()
            field = re.fullmatch(r"`([^`]+)`", first_cell)
            if field:
                tables[current].add(field.group(1))
    return tables


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_each_example_is_the_request_lk_reads(name: str) -> None:
    message = _parse(name)
    assert message.ListFields(), f"{name} parsed into an empty {type(message).__name__}"


def test_a_misspelled_field_fails_to_parse() -> None:
    with pytest.raises(json_format.ParseError):
        json_format.Parse(
            '{"trunk": {"nmae": "typo"}}',
            sip.CreateSIPInboundTrunkRequest(),
            ignore_unknown_fields=False,
        )


def test_the_dispatch_rule_sends_calls_to_tandem_with_an_installed_profile() -> None:
    request = _parse("dispatch-rule.json")
    assert isinstance(request, sip.CreateSIPDispatchRuleRequest)
    agents = request.dispatch_rule.room_config.agents
    assert len(agents) == 1
    assert agents[0].agent_name == ResponderSettings(_env_file=None).agent_name
    metadata = json.loads(agents[0].metadata)
    assert isinstance(metadata, dict)
    assert set(metadata) <= METADATA_KEYS
    assert metadata["profile"] in installed_profiles()


def test_the_dispatch_rule_gives_each_call_a_room_not_named_with_the_callers_number() -> None:
    request = _parse("dispatch-rule.json")
    assert isinstance(request, sip.CreateSIPDispatchRuleRequest)
    rule = request.dispatch_rule
    assert rule.rule.WhichOneof("rule") == "dispatch_rule_individual"
    prefix = rule.rule.dispatch_rule_individual.room_prefix
    assert prefix
    assert not re.search(r"\d", prefix)
    # LiveKit appends the caller's number to an individual rule's room name; hidden, only its
    # last four digits are there (deploy/sip/README.md, "The room name and the caller's number").
    assert rule.hide_phone_number


def test_the_readme_explains_every_field_of_every_example() -> None:
    tables = _readme_tables()
    assert sorted(tables) == sorted(REQUESTS)
    for name in REQUESTS:
        in_json = _field_paths(_load(name))
        in_readme = tables[name]
        assert in_json - in_readme == set(), f"{name}: fields with no row in README.md"
        assert in_readme - in_json == set(), f"{name}: README.md rows for fields not in the file"


def test_the_field_paths_cover_nested_objects_and_lists() -> None:
    document = {"a": {"b": [{"c": 1}], "d": ["x"]}}
    assert _field_paths(document) == {"a", "a.b", "a.b[].c", "a.d"}


def test_the_deploy_readme_links_the_sip_examples() -> None:
    text = (ROOT / "deploy" / "README.md").read_text(encoding="utf-8")
    assert "(sip/README.md)" in text
