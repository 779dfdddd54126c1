"""Fixtures shared by every tier: real servers, isolated names, running services."""

from __future__ import annotations

import asyncio
import importlib
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from pymongo import AsyncMongoClient, MongoClient

from shared.auth import mint
from shared.settings import Settings
from tests.servers import Servers, resolve

ROOT = Path(__file__).resolve().parent.parent
SECRET = secrets.token_urlsafe(48)
REGION = "32.73"
T = TypeVar("T")


RUN_ID = "t" + secrets.token_hex(4)


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    with ExitStack() as stack:
        try:
            found = resolve(stack)
        except RuntimeError as exc:
            pytest.fail(str(exc), pytrace=False)
        stack.callback(_drop_session_databases, found.mongodb_url)
        yield found


def _drop_session_databases(mongodb_url: str) -> None:
    """Every database this session made, so a long-lived store does not fill with test data."""
    with MongoClient(mongodb_url, serverSelectionTimeoutMS=5000) as client:
        for name in client.list_database_names():
            if name.startswith(RUN_ID):
                client.drop_database(name)


@pytest.fixture(scope="session")
def run_id() -> str:
    """One id per test session: prefixes every database, exchange and queue it creates."""
    return RUN_ID


@pytest.fixture
def unique() -> str:
    """A fresh suffix for names inside one test (random ids mean no clean-up, no cross-talk)."""
    return secrets.token_hex(4)


def make_settings(servers: Servers, prefix: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "region": REGION,
        "rabbitmq_url": servers.rabbitmq_url,
        "mongodb_url": servers.mongodb_url,
        "auth_secret": SECRET,
        "db_prefix": f"{prefix}_",
        "bus_prefix": f"{prefix}.",
        "retry_delays": [0.2, 0.4],
        "outbox_sweep_seconds": 0.5,
        "log_level": "warning",
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(servers: Servers, run_id: str, unique: str) -> Iterator[Settings]:
    """Settings for one test: its own databases and its own exchange and queues (deleted after it)."""
    made = make_settings(servers, f"{run_id}{unique}")
    yield made
    if servers.sweeper is not None:
        servers.sweeper.sweep(made.bus_prefix)


@pytest.fixture
async def broker(settings: Settings) -> AsyncIterator[Any]:
    """A started FastStream broker of a pretend service, with this test's exchanges declared:
    what an outbox relay publishes through (``shared.bus.EventPublisher``)."""
    from shared.bus import declare_exchanges, make_broker

    broker = make_broker(settings, "test")
    await broker.connect()
    await declare_exchanges(broker, settings)
    await broker.start()
    yield broker
    await broker.stop()


@pytest.fixture
async def mongo(servers: Servers) -> AsyncIterator[AsyncMongoClient]:
    client: AsyncMongoClient = AsyncMongoClient(servers.mongodb_url, tz_aware=True)
    yield client
    await client.close()


def token(role: str = "operator", regions: list[str] | None = None, sub: str = "tester", secret: str = SECRET,
          ttl: timedelta = timedelta(hours=1)) -> str:
    return mint(secret, sub=sub, role=role, regions=regions or [REGION], ttl=ttl)


def auth(role: str = "operator", regions: list[str] | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(role, regions)}"}


async def eventually(probe: Callable[[], Awaitable[T]], timeout: float = 5.0, interval: float = 0.05) -> T:
    """Poll ``probe`` until it returns something truthy, for at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = await probe()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last value: {last!r})")
        await asyncio.sleep(interval)


@asynccontextmanager
async def running(service: str, settings: Settings) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """One service in this process, its lifespan entered, with an HTTP client on it."""
    app = importlib.import_module(f"services.{service}.main").build(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        # The suite reads the services' English words (the catalogue's keys); Bahasa Indonesia, what a
        # client gets without Accept-Language, is read by tests/integration/test_language.py.
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{service}",
                                     headers={"Accept-Language": "en"}) as client:
            yield app, client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ServiceProcess:
    """A service as its own OS process, as operators run it."""

    name: str
    env: dict[str, str]
    port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = field(default=0)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0, wait_ready: bool = True) -> None:
        self.starts += 1
        out = open(self.log, "ab")  # noqa: SIM115
        self.process = subprocess.Popen([sys.executable, "-m", f"services.{self.name}"], cwd=ROOT,
                                        env=self.env, stdout=out, stderr=out)
        if wait_ready:
            self.wait(lambda r: r.status_code == 200, "/readyz", timeout)
        else:
            self.wait(lambda r: r.status_code in {200, 503}, "/healthz", timeout)

    def wait(self, ok: Callable[[httpx.Response], bool], path: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process and self.process.poll() is None, f"{self.name} exited; log: {self.log.read_text()[-3000:]}"
            try:
                if ok(httpx.get(self.url + path, timeout=1.0)):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{self.name} not ready in {timeout} s; log: {self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no flushing, as a crash."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def service_env(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SINERGI_")}
    env.update({
        "SINERGI_REGION": settings.region,
        "SINERGI_TIMEZONE": settings.timezone,
        "SINERGI_RABBITMQ_URL": settings.rabbitmq_url,
        "SINERGI_MONGODB_URL": settings.mongodb_url,
        "SINERGI_AUTH_SECRET": settings.auth_secret or "",
        "SINERGI_DB_PREFIX": settings.db_prefix,
        "SINERGI_BUS_PREFIX": settings.bus_prefix,
        "SINERGI_RETRY_DELAYS": ",".join(str(d) for d in settings.retry_delays),
        "SINERGI_OUTBOX_SWEEP_SECONDS": str(settings.outbox_sweep_seconds),
        "SINERGI_SMTP_URL": settings.smtp_url,
        "SINERGI_LOG_LEVEL": "info",
    })
    env.update(extra)
    return env


@pytest.fixture
def processes(settings: Settings, tmp_path: Path) -> Iterator[Callable[..., ServiceProcess]]:
    """Start services as processes sharing this test's settings; all stopped at the end."""
    started: list[ServiceProcess] = []

    def start(name: str, wait_ready: bool = True, port: int | None = None, **env: str) -> ServiceProcess:
        port = port or free_port()
        proc = ServiceProcess(name, service_env(settings, SINERGI_PORT=str(port), **env), port,
                              tmp_path / f"{name}.log")
        proc.start(wait_ready=wait_ready)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


# pytest-timeout's report of a hung test shows threads, not the event loop's tasks, which is where
# the suite's waiting happens; a test still running after this long has its tasks' stacks printed
# (stderr, shown with the failure) while it still hangs, and where the test's own tasks wait is
# added to its one-line failure in the summary (what CI's shortened output keeps).
HUNG_AFTER_SECONDS = 200.0
_HUNG_AT: dict[str, str] = {}


def _awaits(task: asyncio.Task[Any]) -> list[Any]:
    """The frames down a task's chain of awaits, outermost first (where its stack stops)."""
    frames, awaited = [], task.get_coro()
    while awaited is not None:
        frame = (getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
                 or getattr(awaited, "ag_frame", None))
        if frame is not None:
            frames.append(frame)
        awaited = (getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
                   or getattr(awaited, "ag_await", None))
    return frames


def _where(frame: Any) -> str:
    path = Path(frame.f_code.co_filename)
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
    return f"{shown}:{frame.f_lineno} {frame.f_code.co_name}"


@pytest.fixture(autouse=True)
async def _tasks_shown_when_hung(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    import threading
    import traceback

    loop = asyncio.get_running_loop()

    def show() -> None:
        lines, ours = [f"--- asyncio tasks after {HUNG_AFTER_SECONDS:.0f} s ---"], []
        for task in list(asyncio.all_tasks(loop)):
            frames = _awaits(task)
            lines.append(f"{task.get_name()}:")
            lines += ["  " + line.rstrip() for frame in frames for line in traceback.format_stack(frame, limit=1)]
            own = [f for f in frames if Path(f.f_code.co_filename).is_relative_to(ROOT)
                   and ".venv" not in f.f_code.co_filename]
            if own:  # the innermost frame of ours, then where the task really waits
                ours.append(f"{task.get_name()}: {_where(own[-1])} -> {_where(frames[-1])}")
        print("\n".join(lines), file=sys.stderr, flush=True)
        _HUNG_AT[request.node.nodeid] = "; ".join(ours)

    timer = threading.Timer(HUNG_AFTER_SECONDS, show)
    timer.daemon = True
    timer.start()
    yield
    timer.cancel()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    hung_at = _HUNG_AT.pop(item.nodeid, None) if report.when == "call" else None
    crash = getattr(report.longrepr, "reprcrash", None)
    if hung_at and report.failed and crash is not None:
        crash.message = f"{crash.message} | tasks of ours waiting at {HUNG_AFTER_SECONDS:.0f} s: {hung_at}"
