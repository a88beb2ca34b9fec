"""A thinker process: the bus worker, the brain, the tools, health and metrics, and shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import logging
import os
import signal
from collections.abc import Callable, Iterable, Iterator

import anthropic
import httpx
import httpx2
from redis.asyncio import Redis

from shared.bus import TaskWorker, read_backlog
from shared.config import Settings
from shared.embedded_redis import redis_url_or_private
from shared.errors import ConfigError
from shared.keys import Keys
from shared.profile import find_profile
from shared.redis_client import connect, wait_for_redis
from thinker.brain import Brain
from thinker.claude_brain import ClaudeBrain
from thinker.handler import ThinkerHandler
from thinker.metrics import HealthServer, ThinkerMetrics
from thinker.profiles import OfflineBrains, ProfileCatalog
from tools import ToolRegistry

log = logging.getLogger("tandem.thinker")

CONNECT_TIMEOUT_S = 5.0
"""A busy event loop can take more than a second to finish a TLS handshake."""


def choose_brain(settings: Settings, metrics: ThinkerMetrics) -> Brain:
    """Claude when ``ANTHROPIC_API_KEY`` is set; otherwise the offline brains, said loudly."""
    if settings.anthropic_api_key is None:
        log.warning(
            "ANTHROPIC_API_KEY is not set: offline rule-based brains answer tasks (each profile's "
            "own, or one that answers from the profile's knowledge). They are not a language model",
            extra={"simulated_think_s": settings.thinker.demo_think_s},
        )
        return OfflineBrains(think_s=settings.thinker.demo_think_s)
    t = settings.thinker
    client = anthropic.AsyncAnthropic(
        api_key=settings.anthropic_api_key.get_secret_value(),
        base_url=settings.anthropic_base_url,
        max_retries=t.max_retries,
        timeout=httpx2.Timeout(t.request_timeout_s, connect=CONNECT_TIMEOUT_S),
        # one connection per in-flight model request, kept alive between waves (no new TLS)
        http_client=anthropic.DefaultAsyncHttpxClient(
            limits=httpx2.Limits(
                max_connections=settings.bus.concurrency + 16,
                max_keepalive_connections=settings.bus.concurrency,
            )
        ),
    )
    log.info(
        "Claude answers tasks", extra={"fast_model": t.fast_model, "strong_model": t.strong_model}
    )
    return ClaudeBrain(
        client,
        t,
        on_first_token=lambda model, s: metrics.model_first_token_seconds.labels(model).observe(s),
        on_model_error=lambda kind: metrics.errors.labels(f"model_{kind}").inc(),
    )


class _Probe:
    """What ``/healthz`` and ``/metrics`` look at, filled in as start-up gets there."""

    def __init__(self, metrics: ThinkerMetrics, keys: Keys) -> None:
        self.metrics = metrics
        self.keys = keys
        self.redis: Redis | None = None
        self.worker: TaskWorker | None = None
        self._scrape_failing = False

    async def healthy(self) -> bool:
        """Taking tasks: the worker runs (group made, intake started, no stop), none of its loops
        or tasks waits for Redis to take a command (out of memory, loading...), and Redis
        answers."""
        worker = self.worker
        if worker is None or not worker.running or worker.waiting_for_redis or self.redis is None:
            return False
        try:
            return bool(await asyncio.wait_for(self.redis.ping(), 1.0))
        except Exception:
            return False

    async def before_scrape(self) -> None:
        """Refresh the backlog gauges (dead letters, pending, lag, oldest pending age) in one
        round trip. If Redis does not answer within a second they read NaN (unknown) until a
        scrape succeeds, the error is counted (``metrics_redis``), and the first failure in a
        row is logged; ``/metrics`` itself still answers."""
        if self.redis is None:
            return
        try:
            backlog = await asyncio.wait_for(read_backlog(self.redis, self.keys), 1)
        except Exception as error:
            self.metrics.set_backlog(None)
            self.metrics.errors.labels("metrics_redis").inc()
            if not self._scrape_failing:
                # the error's type only: a message could carry the Redis URL
                log.warning(
                    "could not read the task backlog for /metrics",
                    extra={"error": type(error).__name__},
                )
            self._scrape_failing = True
            return
        if self._scrape_failing:
            log.info("task backlog readable again for /metrics")
        self._scrape_failing = False
        self.metrics.set_backlog(backlog)


@contextlib.contextmanager
def _on_signals(callback: Callable[[], None]) -> Iterator[None]:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, callback)
    try:
        yield
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


def load_catalog(
    settings: Settings, registry: ToolRegistry, selectors: Iterable[str]
) -> ProfileCatalog:
    """The profiles this thinker serves: every installed one plus ``TANDEM_PROFILE`` and
    ``selectors``. :class:`ConfigError` when there is none, or when a named one allows a tool
    that is not installed (an installed one with a missing tool is logged)."""
    named = [s for s in (settings.profile, *selectors) if s]
    catalog = ProfileCatalog.load(named)
    if not catalog.profiles:
        raise ConfigError(
            "no agent profile to serve: install one, or set TANDEM_PROFILE (or --profile) to a "
            "directory with profile.toml"
        )
    explicit = {find_profile(selector).id for selector in named}
    for profile in catalog.profiles.values():
        missing = [name for name in profile.allowed_tools if name not in registry.tools]
        if not missing:
            continue
        if profile.id in explicit:
            raise ConfigError(
                f"profile {profile.id!r} allows {', '.join(missing)}, which "
                f"{'is' if len(missing) == 1 else 'are'} not installed or not enabled"
            )
        log.error("profile tools missing", extra={"profile": profile.id, "missing": missing})
    return catalog


async def serve(
    settings: Settings, *, brain: Brain | None = None, profiles: Iterable[str] = ()
) -> None:
    """Run a thinker until SIGTERM/SIGINT, then drain: in-flight tasks get ``drain_s`` to finish
    and the rest are handed back to other workers, so none is lost.

    Start-up fails loudly: :class:`ConfigError` when the health port cannot be had,
    :class:`UpstreamError` when Redis does not answer within ``TANDEM_REDIS_STARTUP_WAIT_S``, and
    :class:`StopRequested` when a signal arrives while waiting for Redis. Once it serves, Redis
    refusing or unreachable is waited out (``/healthz`` answers 503 meanwhile); an error reply
    no wait cures ends it with :class:`UpstreamError`. ``/healthz`` answers 200 only while the
    worker takes tasks, waits for nothing from Redis, and Redis answers.
    """
    t = settings.thinker
    stop = asyncio.Event()
    metrics = ThinkerMetrics()
    probe = _Probe(metrics, Keys(settings.bus.prefix))

    def on_signal() -> None:
        stop.set()
        if probe.worker is not None:
            probe.worker.request_stop(t.drain_s)

    async with contextlib.AsyncExitStack() as stack:
        stack.enter_context(_on_signals(on_signal))  # first: every wait below ends on a signal
        server = HealthServer(metrics, probe.healthy, probe.before_scrape)
        if t.http_port:
            await _listen(server, t.http_host, t.http_port)
            stack.push_async_callback(server.stop)
        registry = ToolRegistry.discover(
            enabled=settings.tools.enabled,
            disabled=settings.tools.disabled,
            strict=settings.tools.strict,
        )
        catalog = load_catalog(settings, registry, profiles)
        brain = brain or choose_brain(settings, metrics)
        url = stack.enter_context(redis_url_or_private(settings.redis_url))
        redis = probe.redis = connect(url, name="tandem-thinker")
        stack.push_async_callback(redis.aclose)
        await wait_for_redis(redis, url, timeout_s=settings.redis_startup_wait_s, stop=stop)
        http = await stack.enter_async_context(httpx.AsyncClient(timeout=10.0))
        handler = ThinkerHandler(
            brain, registry, redis, http, metrics, prefix=settings.bus.prefix, catalog=catalog
        )
        worker = probe.worker = TaskWorker(redis, handler, settings.bus)
        if stop.is_set():  # a signal since Redis answered: run() returns at once
            worker.request_stop(t.drain_s)
        metrics.in_flight.set_function(lambda: worker.in_flight)
        gc.freeze()  # start-up objects leave the collector's view: no 100 ms full collections
        log.info(
            "thinker started",
            extra={
                "brain": brain.name,
                "profiles": sorted(catalog.profiles),
                "tools": len(registry),
                "concurrency": settings.bus.concurrency,
                "consumer": worker.consumer,
            },
        )
        await worker.run()
    log.info("thinker stopped", extra={"answered": dict(worker.stats.answered)})


async def _listen(server: HealthServer, host: str, port: int) -> None:
    """Start the health server, or fail with one line naming the setting to change."""
    try:
        await server.start(host, port)
    except OSError as error:
        code = error.errno or 0
        if code < 0:  # a getaddrinfo error (socket.create_server keeps only its code)
            raise ConfigError(
                f"TANDEM_THINKER_HTTP_HOST: {host!r} is not an address of this machine"
            ) from None
        if code == errno.EADDRINUSE:
            problem = "is already in use"
        else:
            problem = f"cannot be listened on ({os.strerror(code) if code else error})"
        raise ConfigError(
            f"TANDEM_THINKER_HTTP_PORT: port {port} on {host} {problem}; "
            "choose another, or 0 to turn the health server off"
        ) from None
