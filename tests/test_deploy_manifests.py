"""What an operator runs from ``deploy/`` and the ``Dockerfile``, against the code: every command
is one tandem's CLI has, every variable one tandem reads (or a standard one), every probe and
scrape a port and path the processes serve with those settings, every grace period longer than
the drain it covers, and the autoscaler watches the stream and group the bus uses. No Docker or
cluster is needed: the files are parsed, the CLI resolved, the health servers started."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import tomllib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from click.testing import CliRunner
from livekit.agents import AgentServer
from livekit.agents.telemetry.http_server import HttpServer as LiveKitMetricsServer
from redis.crc import key_slot

from responder.health import HealthServer as ResponderHealth
from responder.health import WorkerHealth
from shared.cli import main
from shared.config import ResponderSettings, ThinkerSettings, known_variables
from shared.keys import GROUP, Keys
from thinker.metrics import HealthServer as ThinkerHealth
from thinker.metrics import ThinkerMetrics

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
HEALTHCHECK = DEPLOY / "healthcheck.py"

STANDARD_VARIABLES = frozenset(
    {"PATH", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "PIP_DISABLE_PIP_VERSION_CHECK"}
)
"""Variables of Python, pip and the shell that the image sets; tandem reads none of them."""

ROLES = {("responder", "start"): "responder", ("thinker",): "thinker"}


# -- what the code serves ------------------------------------------------------------------------


def served(role: str, env: dict[str, str]) -> dict[int, set[str]]:
    """Port -> HTTP paths a process of ``role`` serves with ``env`` over tandem's defaults
    (:func:`test_the_paths_are_the_ones_the_servers_route` checks the paths)."""
    if role == "responder":
        r = ResponderSettings.model_validate(_section(env, "TANDEM_RESPONDER_"))
        return {r.http_port: {"/", "/worker"}, r.metrics_port: {"/metrics"}}
    t = ThinkerSettings.model_validate(_section(env, "TANDEM_THINKER_"))
    return {t.http_port: {"/healthz", "/metrics"}}


def _section(env: dict[str, str], prefix: str) -> dict[str, str]:
    return {k.removeprefix(prefix).lower(): v for k, v in env.items() if k.startswith(prefix)}


async def _paths_answered(port: int, paths: list[str]) -> dict[str, int]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        return {path: (await client.get(path)).status_code for path in paths}


async def healthy() -> bool:
    return True


async def nothing() -> None:
    return None


@pytest.fixture
async def thinker_health() -> AsyncIterator[ThinkerHealth]:
    server = ThinkerHealth(ThinkerMetrics(), healthy, nothing)
    await server.start("127.0.0.1", 0)
    yield server
    await server.stop()


@pytest.fixture
async def responder_health() -> AsyncIterator[ResponderHealth]:
    """The responder's health server, before its worker has started (so: 503 "starting")."""
    server = ResponderHealth(WorkerHealth(AgentServer()))
    server.bind("127.0.0.1", 0)
    await server.start()
    yield server
    await server.aclose()


async def test_the_paths_are_the_ones_the_servers_route(
    thinker_health: ThinkerHealth, responder_health: ResponderHealth
) -> None:
    thinker = await _paths_answered(thinker_health.port, ["/healthz", "/metrics", "/health"])
    assert thinker == {"/healthz": 200, "/metrics": 200, "/health": 404}
    responder = await _paths_answered(responder_health.port, ["/", "/worker", "/healthz"])
    assert responder == {"/": 503, "/worker": 503, "/healthz": 404}  # 503: not started yet
    routes = LiveKitMetricsServer("", 0).app.router.routes()
    livekit = {route.resource.canonical for route in routes if route.resource is not None}
    assert livekit == {"/metrics"}


# -- the CLI -------------------------------------------------------------------------------------


def assert_tandem_command(args: list[str]) -> None:
    """``tandem ARGS`` names a real command: its ``--help`` works and shows that command."""
    result = CliRunner().invoke(main, [*args, "--help"], prog_name="tandem")
    assert result.exit_code == 0, f"tandem {shlex.join(args)}: {result.output}"
    words = " ".join(arg for arg in args if not arg.startswith("-"))
    assert f"Usage: tandem {words}".rstrip() in result.output, result.output


@pytest.mark.parametrize("args", [["responder", "begin"], ["thinkers"], ["responder"]])
def test_a_command_that_is_not_one_is_caught(args: list[str]) -> None:
    with pytest.raises(AssertionError):
        assert_tandem_command([*args, "--no-such-option"])
    if args != ["responder"]:
        with pytest.raises(AssertionError):
            assert_tandem_command(args)


def test_the_console_script_is_the_cli_the_files_run() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, attribute = scripts["tandem"].split(":")
    assert getattr(importlib.import_module(module), attribute) is main


# -- the Dockerfile ------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments left out."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def instruction(name: str) -> list[str]:
    return [args for found, args in dockerfile_instructions() if found == name]


def test_the_image_runs_tandem_with_a_real_command() -> None:
    (entrypoint,) = instruction("ENTRYPOINT")
    assert yaml.safe_load(entrypoint) == ["tandem"]  # the console script (test above)
    (cmd,) = instruction("CMD")
    assert_tandem_command(yaml.safe_load(cmd))


def test_the_image_sets_only_standard_variables() -> None:
    names = set()
    for args in instruction("ENV"):
        names.update(re.findall(r"(?:^|\s)([A-Z_][A-Z0-9_]*)=", args))
    assert names
    assert names <= STANDARD_VARIABLES


def test_the_build_steps_run_real_commands() -> None:
    runs = " ".join(instruction("RUN"))
    assert "python -m livekit.agents download-files" in runs
    result = subprocess.run(
        [sys.executable, "-m", "livekit.agents", "download-files"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    imported = re.findall(r'python -c "import ([\w., ]+)"', runs)
    assert imported
    for modules in imported:
        for module in modules.split(","):
            __import__(module.strip())


def test_the_image_exposes_the_default_ports() -> None:
    (expose,) = instruction("EXPOSE")
    ports = {int(port) for port in expose.split()}
    assert ports == set(served("responder", {})) | set(served("thinker", {}))


def test_everything_the_image_copies_passes_the_dockerignore() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    rules = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert rules[0] == "*", "an allowlist: nothing reaches the build unless named"
    allowed = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    assert not allowed & {".env", ".venv", "runs", "tests", ".git"}
    for args in instruction("COPY"):
        words = [word for word in args.split() if not word.startswith("--")]
        if "--from=" in args:
            continue
        for source in words[:-1]:
            assert source.rstrip("/") in allowed, source
            assert (ROOT / source).exists(), source


def test_the_healthcheck_script_is_the_one_the_image_runs() -> None:
    (healthcheck,) = instruction("HEALTHCHECK")
    copied = {args.split()[0]: args.split()[1] for args in instruction("COPY") if "--" not in args}
    in_image = copied["deploy/healthcheck.py"]
    assert yaml.safe_load(healthcheck.split("CMD", 1)[1]) == ["python", in_image]


def run_healthcheck(responder_port: int, thinker_port: int) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ["PATH"],
        "TANDEM_RESPONDER_HTTP_PORT": str(responder_port),
        "TANDEM_THINKER_HTTP_PORT": str(thinker_port),
    }
    return subprocess.run(
        [sys.executable, str(HEALTHCHECK)],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_the_image_healthcheck_asks_the_thinker_where_no_responder_listens(
    thinker_health: ThinkerHealth,
) -> None:
    result = await asyncio.to_thread(run_healthcheck, closed_port(), thinker_health.port)
    assert (result.returncode, result.stdout.strip()) == (
        0,
        f"http://127.0.0.1:{thinker_health.port}/healthz: 200",
    )
    nobody = await asyncio.to_thread(run_healthcheck, closed_port(), closed_port())
    assert (nobody.returncode, nobody.stdout.strip()) == (1, "no health endpoint answers")


async def test_the_image_healthcheck_fails_a_responder_that_cannot_take_calls(
    responder_health: ResponderHealth, thinker_health: ThinkerHealth
) -> None:
    result = await asyncio.to_thread(run_healthcheck, responder_health.port, thinker_health.port)
    assert result.returncode == 1
    assert result.stdout.strip() == f"http://127.0.0.1:{responder_health.port}/: 503 starting"


def test_the_healthcheck_defaults_are_tandem_s() -> None:
    source = HEALTHCHECK.read_text()
    for role, settings, path in (
        ("responder", ResponderSettings, "/"),
        ("thinker", ThinkerSettings, "/healthz"),
    ):
        variable = f"{settings.model_config['env_prefix']}HTTP_PORT"
        port = settings.model_fields["http_port"].default
        assert path in served(role, {})[port]
        assert f'("{variable}", {port}, "{path}")' in source
        assert variable in known_variables()


# -- docker compose ------------------------------------------------------------------------------


def compose_services() -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(name, role, service) of each service built from the tandem image."""
    for name, service in COMPOSE["services"].items():
        if "build" in service:
            command = tuple(service["command"])
            assert command in ROLES, f"{name} runs neither role: tandem {shlex.join(command)}"
            yield name, ROLES[command], service


def environment(service: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in (service.get("environment") or {}).items()}


def probe_url(test: list[str]) -> tuple[int, str]:
    (port, path) = re.findall(r"http://127\.0\.0\.1:(\d+)(/\S*?)'", " ".join(test))[0]
    return int(port), path


def seconds(duration: str) -> float:
    match = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", duration)
    assert duration, "empty duration"
    assert match, duration
    return int(match.group(1) or 0) * 60 + int(match.group(2) or 0)


def test_the_compose_stack_has_the_services_operators_expect() -> None:
    assert {"livekit", "redis", "responder", "thinker-1", "thinker-2"} <= set(COMPOSE["services"])
    roles = sorted((name, role) for name, role, _ in compose_services())
    assert roles == [("responder", "responder"), ("thinker-1", "thinker"), ("thinker-2", "thinker")]
    redis = COMPOSE["services"]["redis"]
    assert "./redis.conf:/usr/local/etc/redis/redis.conf:ro" in redis["volumes"]
    assert redis["command"][-1] == "/usr/local/etc/redis/redis.conf"
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert COMPOSE["services"]["responder"]["depends_on"]["redis"]["condition"] == (
        "service_healthy"
    )
    assert "--dev" in COMPOSE["services"]["livekit"]["command"]


def test_compose_runs_real_commands_with_real_variables() -> None:
    known = known_variables() | STANDARD_VARIABLES
    for name, service in COMPOSE["services"].items():
        if "build" not in service:
            continue
        assert_tandem_command(service["command"])
        unknown = set(environment(service)) - known
        assert not unknown, f"{name}: {unknown}"


def test_compose_wires_the_stack_to_livekit_s_dev_keys_and_its_own_redis() -> None:
    responder = environment(COMPOSE["services"]["responder"])
    assert responder["LIVEKIT_URL"] == "ws://livekit:7880"
    assert (responder["LIVEKIT_API_KEY"], responder["LIVEKIT_API_SECRET"]) == ("devkey", "secret")
    for _, _, service in compose_services():
        assert environment(service)["REDIS_URL"] == "redis://redis:6379/0"


def test_compose_probes_what_each_process_serves() -> None:
    for name, role, service in compose_services():
        port, path = probe_url(service["healthcheck"]["test"])
        assert path in served(role, environment(service)).get(port, set()), name
        health = {"responder": "/", "thinker": "/healthz"}[role]
        assert path == health, f"{name}: probes {path}, not the health endpoint"


def test_compose_s_sip_service_reaches_the_stack_s_livekit_through_redis() -> None:
    """LiveKit's SIP service and livekit-server meet through Redis, and the SIP service connects
    to the stack's LiveKit with its dev keys; inbound calls then go to the agent the example
    dispatch rule names, which is the responder's."""
    services = COMPOSE["services"]
    sip = services["sip"]
    assert sip["profiles"] == ["sip"]  # optional: a plain `up` does not start it
    config = yaml.safe_load(sip["environment"]["SIP_CONFIG_BODY"])
    livekit_command = services["livekit"]["command"]
    redis_host = livekit_command[livekit_command.index("--redis-host") + 1]
    assert config["redis"]["address"] == redis_host == "redis:6379"
    assert config["ws_url"] == environment(services["responder"])["LIVEKIT_URL"]
    assert (config["api_key"], config["api_secret"]) == ("devkey", "secret")
    published = {str(port).split(":", 1)[1] for port in sip["ports"]}
    assert {f"{config['sip_port']}/udp", f"{config['rtp_port']}/udp"} <= published

    rule = json.loads((DEPLOY / "sip" / "dispatch-rule.json").read_text())
    (agent,) = rule["dispatch_rule"]["room_config"]["agents"]
    responder = environment(services["responder"])
    name = responder.get("TANDEM_RESPONDER_AGENT_NAME", ResponderSettings().agent_name)
    assert agent["agent_name"] == name


def test_compose_gives_each_role_longer_than_its_drain() -> None:
    drains = {
        "responder": ResponderSettings.model_fields["drain_s"].default,
        "thinker": ThinkerSettings.model_fields["drain_s"].default,
    }
    for name, role, service in compose_services():
        assert seconds(service["stop_grace_period"]) > drains[role], name


def test_prometheus_scrapes_the_compose_services_where_they_serve_metrics() -> None:
    scrapes = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    services = {name: (role, service) for name, role, service in compose_services()}
    jobs = {"tandem-thinker": "thinker", "tandem-responder": "responder"}
    for job in scrapes["scrape_configs"]:
        path = job.get("metrics_path", "/metrics")
        for target in (t for group in job["static_configs"] for t in group["targets"]):
            host, port = target.rsplit(":", 1)
            role, service = services[host]
            assert role == jobs[job["job_name"]], target
            assert path in served(role, environment(service))[int(port)], target
    prometheus = COMPOSE["services"]["prometheus"]
    assert "./prometheus:/etc/prometheus:ro" in prometheus["volumes"]


# -- Kubernetes ----------------------------------------------------------------------------------


def k8s_documents() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = kustomization["resources"]
    on_disk = sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(listed) == on_disk, "every manifest is in kustomization.yaml, and only those"
    return [doc for name in listed for doc in yaml.safe_load_all((K8S / name).read_text()) if doc]


def k8s(kind: str, name: str) -> dict[str, Any]:
    (found,) = [d for d in k8s_documents() if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


def config() -> dict[str, str]:
    return {k: str(v) for k, v in k8s("ConfigMap", "tandem-config")["data"].items()}


def deployments() -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(role, pod template, its one container) of each Deployment."""
    for doc in k8s_documents():
        if doc["kind"] == "Deployment":
            template = doc["spec"]["template"]
            (container,) = template["spec"]["containers"]
            yield ROLES[tuple(container["args"])], template, container


def test_the_deployments_run_real_commands_with_real_variables() -> None:
    known = known_variables() | STANDARD_VARIABLES
    assert set(config()) <= known
    roles = []
    for role, _, container in deployments():
        roles.append(role)
        assert_tandem_command(container["args"])
        assert container["envFrom"] == [{"configMapRef": {"name": "tandem-config"}}]
        for variable in container["env"]:
            assert variable["name"] in known
            # the Secret's keys are the variables' own names (deploy/README.md creates it)
            assert variable["valueFrom"]["secretKeyRef"]["key"] == variable["name"]
    assert sorted(roles) == ["responder", "thinker"]


def test_the_probes_and_scrapes_are_what_each_process_serves() -> None:
    for role, template, container in deployments():
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        serves = served(role, config())
        assert set(ports.values()) == set(serves), role
        probes = [
            container[k]
            for k in ("startupProbe", "readinessProbe", "livenessProbe")
            if k in container
        ]
        assert {"readinessProbe", "livenessProbe"} <= set(container)
        health = {"responder": "/", "thinker": "/healthz"}[role]
        for probe in probes:
            assert probe["httpGet"]["path"] == health, role
            assert health in serves[ports[probe["httpGet"]["port"]]], role
        notes = template["metadata"]["annotations"]
        assert notes["prometheus.io/path"] in serves[int(notes["prometheus.io/port"])], role
        assert (
            int(notes["prometheus.io/port"])
            == ports[{"responder": "metrics", "thinker": "http"}[role]]
        )


def test_each_role_s_grace_period_outlasts_its_drain() -> None:
    drains = {
        "responder": float(config()["TANDEM_RESPONDER_DRAIN_S"]),
        "thinker": float(config()["TANDEM_THINKER_DRAIN_S"]),
    }
    for role, template, _ in deployments():
        assert template["spec"]["terminationGracePeriodSeconds"] > drains[role], role


def test_both_roles_have_a_disruption_budget() -> None:
    budgets = [d for d in k8s_documents() if d["kind"] == "PodDisruptionBudget"]
    selected = {
        d["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] for d in budgets
    }
    assert selected == {"responder", "thinker"}
    for role, template, _ in deployments():
        assert template["metadata"]["labels"]["app.kubernetes.io/component"] == role


def test_keda_watches_the_stream_and_group_the_thinkers_read() -> None:
    scaled = k8s("ScaledObject", "tandem-thinker")
    assert scaled["spec"]["scaleTargetRef"]["name"] == "tandem-thinker"
    assert k8s("Deployment", "tandem-thinker")
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "redis-streams"
    meta = trigger["metadata"]
    assert meta["stream"] == Keys(config()["TANDEM_BUS_PREFIX"]).tasks == Keys().tasks
    assert meta["consumerGroup"] == GROUP
    # pending stops growing once every slot is taken: the target must be below a pod's slots
    assert 0 < int(meta["pendingEntriesCount"]) < int(config()["TANDEM_BUS_CONCURRENCY"])
    auth = k8s("TriggerAuthentication", trigger["authenticationRef"]["name"])
    assert {ref["parameter"] for ref in auth["spec"]["secretTargetRef"]} == {"address", "password"}


def test_the_readme_creates_the_secrets_the_manifests_read() -> None:
    readme = (DEPLOY / "README.md").read_text()
    section = readme.split("## Kubernetes", 1)[1].split("\n## ", 1)[0]
    keys = {v["name"] for _, _, c in deployments() for v in c["env"]}
    for key in keys:
        assert f"{key}=" in section, key
    auth = k8s("TriggerAuthentication", "tandem-redis")
    for ref in auth["spec"]["secretTargetRef"]:
        assert ref["name"] in section
        assert f"{ref['key']}=" in section


def test_the_bus_is_not_cluster_safe_as_the_docs_say() -> None:
    """The terminal-event script writes a session's keys and acknowledges the task stream in one
    call: different hash slots, which Redis Cluster refuses. configmap.yaml, redis.conf and
    deploy/README.md say so; if this ever fails, update them."""
    keys = Keys()
    assert key_slot(keys.done("s").encode()) != key_slot(keys.tasks.encode())
    assert "not Cluster" in (DEPLOY / "redis.conf").read_text()
    assert "Redis Cluster would refuse" in (K8S / "configmap.yaml").read_text()


# -- systemd -------------------------------------------------------------------------------------


def unit_settings(path: Path) -> dict[str, str]:
    return dict(
        line.split("=", 1)
        for line in path.read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )


@pytest.mark.parametrize("unit", sorted(p.name for p in DEPLOY.glob("*.service")))
def test_each_systemd_unit_runs_a_real_command_with_time_to_drain(unit: str) -> None:
    settings = unit_settings(DEPLOY / unit)
    words = shlex.split(settings["ExecStart"])
    if words[0] == "/usr/bin/env":
        words.pop(0)
        while "=" in words[0]:
            assert words.pop(0).split("=", 1)[0] in known_variables()
    assert words[0].endswith("/bin/tandem")
    assert_tandem_command(words[1:])
    role = ROLES[tuple(words[1:])]
    drain = {
        "responder": ResponderSettings.model_fields["drain_s"].default,
        "thinker": ThinkerSettings.model_fields["drain_s"].default,
    }[role]
    assert float(settings["TimeoutStopSec"]) > drain


def test_the_thinker_template_gives_each_instance_its_own_port() -> None:
    assert (DEPLOY / "tandem-thinker@.service").exists()
    exec_start = unit_settings(DEPLOY / "tandem-thinker@.service")["ExecStart"]
    assert "TANDEM_THINKER_HTTP_PORT=%i " in exec_start
    assert "tandem-thinker@.service" in (DEPLOY / "tandem-thinker.service").read_text()
