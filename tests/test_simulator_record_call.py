"""One real offline call, as ``tandem eval`` plays it, whose answer is cut off by a long barge-in:
the record keeps what the agent was saying, the checks see it, and the answer is timed from it.
Only the measuring is asserted: how the agent handles the barge-in is other tests' business."""

from __future__ import annotations

from pathlib import Path

import pytest

from responder.offline import HibariTTS
from shared.config import ResponderSettings, Settings
from shared.profile import find_profile
from simulator.run import run_call, run_directory
from simulator.scenario import load_scenario
from simulator.stack import open_stack
from simulator.voice import CallerVoice

LONG_BARGE_IN = """
name: long-barge-in
description: Cuts into the read-back with a long correction (the record must keep the line).
thinker: {think_s: 1.0}
steps:
  - say: Hi. I'd like a table for four on Friday at eight under the name Rivera.
  - barge_in: >-
      Sorry, hold on a second, I just heard that my sister is coming along with us too.
      Make it five people.
    during: answer
    after_agent_ms: 600
checks:
  - agent_never_said: "table for 4 is free"
"""


@pytest.mark.timeout(240)
async def test_an_answer_cut_off_by_a_long_barge_in_is_in_the_record(tmp_path: Path) -> None:
    path = tmp_path / "long-barge-in.yaml"
    path.write_text(LONG_BARGE_IN)
    scenario = load_scenario(path)
    settings = Settings(_env_file=None, responder=ResponderSettings(_env_file=None, mode="offline"))
    async with open_stack(settings, find_profile("restaurant"), lambda _: None) as stack:
        assert stack.models.offline is not None
        assert isinstance(stack.models.offline.tts, HibariTTS)
        voice = CallerVoice(stack.models.offline.tts)
        result = await run_call(stack, scenario, voice, run_directory(tmp_path, scenario))
    assert result.error is None
    agent = result.record.said_by("agent")
    assert all(speech.text for speech in agent), agent  # every stretch carries its text
    cut = next(s for s in agent if s.kind == "result" and s.interrupted)
    assert cut.tasks == (1,)
    assert cut.text.startswith("Good news: a table for 4")
    assert 0 < len(cut.heard_text) < len(cut.text)
    barge_in = next(s for s in result.record.said_by("caller") if s.start > cut.start)
    assert barge_in.duration > 3.0  # far past the 2 s the record used to wait for the text
    never_said = result.checks[0]
    assert not never_said.passed  # the superseded read-back was spoken, if cut off
    assert never_said.detail.endswith("(cut off)")
    first_turn_end = result.record.said_by("caller")[0].end
    delegated = result.metrics["first_answer_samples"]["delegated"]
    assert delegated[0] == pytest.approx(cut.start - first_turn_end, abs=0.01)
