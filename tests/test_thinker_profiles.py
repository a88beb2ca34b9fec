"""One thinker process serves several agent profiles: each task is answered from its own
profile's knowledge, never another business's, and a task for a profile it does not serve fails
with a clear reason (a real ``python -m thinker`` on a real redis-server, offline brains)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from redis.asyncio import Redis

from shared.bus import ResponderBus
from shared.config import BusSettings
from shared.embedded_redis import EmbeddedRedis
from shared.thinker_process import ThinkerProcess
from shared.wire import ErrorEvent, ResultEvent, TaskRequest
from tests.conftest import events_until_final
from tests.worker_process import clean_env

pytestmark = pytest.mark.timeout(120)

PROFILE = """
name = "{name}"
timezone = "Europe/Lisbon"
[persona]
instructions = "You are the front desk of {name}."
greeting = "{name}, hello."
goodbye = "Bye from {name}."
[tools]
allow = ["search_knowledge"]
[knowledge]
files = ["knowledge/facts.md"]
"""


def business(root: Path, name: str, hours: str) -> Path:
    (root / "knowledge").mkdir(parents=True)
    (root / "profile.toml").write_text(PROFILE.format(name=name), encoding="utf-8")
    facts = f"# {name}\n\n## Opening hours\n\n{name} is open {hours}.\n"
    (root / "knowledge" / "facts.md").write_text(facts, encoding="utf-8")
    return root


async def ask(bus: ResponderBus, profile: str, request: str) -> ResultEvent | ErrorEvent:
    link = bus.session(f"s-{uuid.uuid4().hex[:8]}")
    task = TaskRequest.create(
        session_id=link.session_id, request=request, epoch=0, timeout_s=20, profile=profile
    )
    await link.submit(task)
    final = (await events_until_final(link, task.task_id, timeout_s=30))[-1]
    assert isinstance(final, ResultEvent | ErrorEvent), final
    return final


async def test_one_thinker_answers_each_task_from_its_own_profile(
    tmp_path: Path, redis: Redis, redis_server: EmbeddedRedis
) -> None:
    shop = business(tmp_path / "bike-shop", "Harbor Bikes", "every day from 9 to 5")
    gym = business(tmp_path / "gym", "Lakeside Gym", "from 6 in the morning to 10 at night")
    prefix = f"p{uuid.uuid4().hex[:8]}"
    env = clean_env(TANDEM_BUS_PREFIX=prefix, TANDEM_PROFILE=str(shop))
    thinker = ThinkerProcess(redis_server.url, tmp_path / "thinker.log", env, profiles=(str(gym),))
    bus = ResponderBus(redis, BusSettings(_env_file=None, prefix=prefix))
    await bus.start()
    with thinker:
        shop_answer = await ask(bus, "bike-shop", "What are your opening hours?")
        gym_answer = await ask(bus, "gym", "What are your opening hours?")
        unknown = await ask(bus, "spa", "What are your opening hours?")
    assert isinstance(shop_answer, ResultEvent)
    assert "9 to 5" in shop_answer.text
    assert "Lakeside" not in shop_answer.text
    assert isinstance(gym_answer, ResultEvent)
    assert "6 in the morning" in gym_answer.text
    assert "9 to 5" not in gym_answer.text
    assert isinstance(unknown, ErrorEvent)
    assert "does not serve the agent profile 'spa'" in unknown.message
    assert not unknown.retryable


async def test_one_thinker_serves_both_shipped_profiles_each_from_its_own(
    tmp_path: Path, redis: Redis, redis_server: EmbeddedRedis
) -> None:
    prefix = f"p{uuid.uuid4().hex[:8]}"
    env = clean_env(TANDEM_BUS_PREFIX=prefix)  # no TANDEM_PROFILE: the installed ones
    thinker = ThinkerProcess(redis_server.url, tmp_path / "thinker.log", env)
    bus = ResponderBus(redis, BusSettings(_env_file=None, prefix=prefix))
    await bus.start()
    with thinker:
        trattoria = await ask(bus, "restaurant", "What time do you open on Saturday?")
        bikes = await ask(bus, "harbor_bikes", "What time do you open on Saturday?")
    assert isinstance(trattoria, ResultEvent)
    assert isinstance(bikes, ResultEvent)
    assert "12:00" in trattoria.text  # the restaurant's Saturday lunch
    assert "9:00" not in trattoria.text
    assert "9:00 to 17:00" in bikes.text  # the bike shop's Saturday
    assert "12:00" not in bikes.text
