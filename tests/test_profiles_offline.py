"""A profile written only from the documented format (``tests/data/profiles/lakeside-dental``: a
dental clinic, no code, no offline brains of its own) answers from its knowledge offline, and says
plainly what it doesn't know. Whole simulated calls, as ``tandem eval --profile PATH`` plays them:
the real responder session (Whisper, the generic offline front desk, hibari), a real thinker
process serving the profile, the embedded redis-server and the scripted caller in real time."""

from __future__ import annotations

from pathlib import Path

import pytest

from responder.offline import HibariTTS
from shared.config import ResponderSettings, Settings
from shared.profile import Profile, load_profile
from simulator.run import RunResult, run_call, run_directory
from simulator.scenario import load_scenario
from simulator.stack import open_stack
from simulator.voice import CallerVoice

DENTAL = Path(__file__).resolve().parent / "data" / "profiles" / "lakeside-dental"


async def play(profile: Profile, name: str, runs: Path) -> RunResult:
    settings = Settings(
        _env_file=None,
        profile=str(profile.root),
        responder=ResponderSettings(_env_file=None, mode="offline"),
    )
    scenario = load_scenario(profile.scenarios_dir / f"{name}.yaml")
    async with open_stack(settings, profile, lambda step: None) as stack:
        assert stack.models.offline is not None
        assert isinstance(stack.models.offline.tts, HibariTTS)
        voice = CallerVoice(stack.models.offline.tts)
        return await run_call(stack, scenario, voice, run_directory(runs, scenario))


def agent_lines(result: RunResult) -> list[str]:
    return [segment.text for segment in result.record.said_by("agent") if segment.text]


@pytest.mark.timeout(240)
@pytest.mark.parametrize("name", ["opening-hours", "cleaning-price", "not-in-the-knowledge"])
async def test_a_profile_from_the_format_alone_passes_its_scenarios_offline(
    tmp_path: Path, name: str
) -> None:
    profile = load_profile(DENTAL)
    result = await play(profile, name, tmp_path)
    assert result.error is None, result.error
    assert result.checks
    assert all(check.passed for check in result.checks), (result.checks, agent_lines(result))
    said = " ".join(agent_lines(result))
    assert "Lakeside Dental" in said  # its own greeting, never another business's
    assert "Trattoria" not in said
