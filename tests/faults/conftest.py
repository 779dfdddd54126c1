"""Private servers for the fault tests: a RabbitMQ node and a store that only this session uses.

Other engineers' tests use the shared RabbitMQ (127.0.0.1:5672) and store (127.0.0.1:27017)
at the same time, so the fault tests never stop those. They start their own:

- a RabbitMQ node (``sinergi-faults-<run>@localhost``) on free ports, with its own Mnesia,
  logs, config, Erlang cookie (``HOME``) and no plugins; stopped with ``rabbitmqctl -n <node>
  stop`` and started again on the same Mnesia, so durable queues and persistent messages
  survive as they would in production;
- the embedded FerretDB (``.sinergi/bin/sinergi-store``, built once if missing) on a free
  port with a temporary data directory; stopped with SIGTERM, started on the same files.

Both are session-scoped (a RabbitMQ boot costs seconds), and each has a watchdog that stops it
if the session dies without its teardown. Here ``settings`` points at them, and ``processes``
(the root conftest's, with more patience) starts services on them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from shared.settings import Settings
from sinergi_cli.local import speaks_amqp, speaks_mongo
from tests.conftest import ServiceProcess, free_port, make_settings, service_env
from tests.servers import Servers

SHARED_WARNING = "the shared servers (5672, 27017) belong to other test runs and are never touched here"
# Seconds a service process may take to answer /readyz. Seconds on a quiet machine, but these
# tests share two cores with other suites and benchmarks, and Python imports are CPU-bound.
START_TIMEOUT = 120.0


def rabbitmq_scripts() -> Path | None:
    """Where ``rabbitmq-server`` and ``rabbitmqctl`` really live.

    Debian's ``/usr/sbin`` wrappers switch to the ``rabbitmq`` user (and its Erlang cookie and
    home) when run as root; the scripts behind them take our ``HOME`` and ``RABBITMQ_*`` as given.
    """
    debian = Path("/usr/lib/rabbitmq/bin")
    if (debian / "rabbitmq-server").exists():
        return debian
    found = shutil.which("rabbitmq-server")
    return Path(found).resolve().parent if found else None


@dataclass
class PrivateRabbit:
    """A RabbitMQ node of our own: start, stop (``rabbitmqctl -n``), start again on the same data."""

    home: Path
    scripts: Path
    node: str
    port: int = field(default_factory=free_port)
    dist_port: int = field(default_factory=free_port)

    def __post_init__(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        # The consistent-hash exchange of sharded queues (SINERGI_SHARDS); no management plugin: a faster boot.
        (self.home / "enabled_plugins").write_text("[rabbitmq_consistent_hash_exchange].\n")
        (self.home / "rabbitmq.conf").write_text(f"listeners.tcp.default = 127.0.0.1:{self.port}\n")
        (self.home / "rabbitmq-env.conf").write_text("")  # not /etc/rabbitmq/rabbitmq-env.conf

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    @property
    def pidfile(self) -> Path:
        return self.home / "pid"

    @property
    def log(self) -> Path:
        return self.home / "log" / f"{self.node}.log"

    @property
    def env(self) -> dict[str, str]:
        return {
            **{k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))},
            "HOME": str(self.home),  # the Erlang cookie of this node and its rabbitmqctl
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.home / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.home / "log"),
            "RABBITMQ_PID_FILE": str(self.pidfile),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.home / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(self.home / "rabbitmq"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.home / "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": str(self.home / "rabbitmq-env.conf"),
        }

    def running(self) -> bool:
        return speaks_amqp("127.0.0.1", self.port)

    def start(self, timeout: float = 90.0) -> None:
        subprocess.run([str(self.scripts / "rabbitmq-server"), "-detached"], env=self.env, check=True,
                       capture_output=True, timeout=30)
        deadline = time.monotonic() + timeout
        while not self.running():
            if time.monotonic() > deadline:
                self.kill()  # it may come up later: never leave it behind
                raise AssertionError(f"private RabbitMQ {self.node} not up in {timeout:.0f} s; log: {self._tail()}")
            time.sleep(0.2)

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the node (the whole Erlang VM), as an operator's ``rabbitmqctl stop`` does."""
        done = subprocess.run([str(self.scripts / "rabbitmqctl"), "-n", self.node, "stop", str(self.pidfile)],
                              env=self.env, capture_output=True, timeout=timeout, check=False)
        if done.returncode != 0 and self.running():
            raise AssertionError(f"rabbitmqctl -n {self.node} stop failed: {done.stderr.decode()[-2000:]}")

    def queues(self) -> dict[str, tuple[int, int]]:
        """Each queue's messages (ready, unacknowledged), as ``rabbitmqctl list_queues`` reports them."""
        done = subprocess.run([str(self.scripts / "rabbitmqctl"), "-n", self.node, "-q", "list_queues", "name",
                               "messages_ready", "messages_unacknowledged", "--no-table-headers"],
                              env=self.env, capture_output=True, timeout=60, check=True, text=True)
        found = {}
        for line in done.stdout.splitlines():
            name, ready, unacked = line.rsplit("\t", 2)
            found[name] = (int(ready), int(unacked))
        return found

    def kill(self) -> None:
        """Last resort at teardown: SIGKILL this node's own VM (its pid file), nothing else."""
        try:
            pid = int(self.pidfile.read_text().strip())
            os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError):
            pass

    def _tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else "(no log)"


@dataclass
class PrivateStore:
    """The embedded FerretDB on a free port and a data directory of its own."""

    binary: Path
    data: Path
    log: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    env: dict[str, str] | None = None  # the store process's environment (None: this one's)

    @property
    def url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    @property
    def pidfile(self) -> Path:
        return self.data.parent / "store.pid"

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None and speaks_mongo("127.0.0.1", self.port)

    def start(self, timeout: float = 30.0) -> None:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [str(self.binary), "-listen", f"127.0.0.1:{self.port}", "-data", str(self.data), "-log", str(self.log)],
                stdout=subprocess.DEVNULL, stderr=out, start_new_session=True, env=self.env,
            )
        self.pidfile.write_text(str(self.process.pid))
        deadline = time.monotonic() + timeout
        while not speaks_mongo("127.0.0.1", self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                raise AssertionError(f"private store not up in {timeout:.0f} s; log: {self.log.read_text()[-3000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        """SIGTERM: FerretDB closes its listener and SQLite files, as on a host shutdown."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(15)
            if self.process.poll() is None:  # a store that will not stop is killed, not waited for
                self.process.kill()
                self.process.wait(5)


# Run by a child of this test session: when the session dies without its teardown (pytest
# SIGKILLed by a harness), stop the server whose pid is in the file, if that pid still runs it.
WATCHDOG = r"""
import os, signal, sys, time
session, pidfile, marker = os.getppid(), sys.argv[1], sys.argv[2]
while os.getppid() == session:
    time.sleep(1)
try:
    pid = int(open(pidfile).read().strip())
    if marker in open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace"):
        os.kill(pid, signal.SIGTERM)
except (OSError, ValueError):
    pass
"""


@contextlib.contextmanager
def watchdog(pidfile: Path, marker: str) -> Iterator[None]:
    """While inside, a private server outlives this session by at most a second."""
    dog = subprocess.Popen([sys.executable, "-c", WATCHDOG, str(pidfile), marker], stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        yield
    finally:
        dog.kill()  # the teardown stops the server itself
        dog.wait()


def _store_binary() -> Path:
    from sinergi_cli.local import Home, RunnerError, store_binary

    try:
        return store_binary(Home.default(), print)
    except RunnerError as exc:
        pytest.skip(f"the fault tests need the embedded store and cannot build it: {exc}")


@pytest.fixture(scope="session")
def private_rabbit(tmp_path_factory: pytest.TempPathFactory, run_id: str) -> Iterator[PrivateRabbit]:
    scripts = rabbitmq_scripts()
    if scripts is None:
        pytest.skip("rabbitmq-server is not installed on this machine (a Docker-only CI?): the fault tests stop "
                    "and restart a private RabbitMQ node of their own, and " + SHARED_WARNING)
    broker = PrivateRabbit(tmp_path_factory.mktemp("rabbitmq"), scripts, f"sinergi-faults-{run_id}@localhost")
    with watchdog(broker.pidfile, str(broker.home)):
        broker.start()
        yield broker
        try:
            broker.stop()
        except (AssertionError, subprocess.TimeoutExpired):
            broker.kill()


@contextlib.contextmanager
def store_of_its_own(home: Path, env: dict[str, str] | None = None) -> Iterator[PrivateStore]:
    """A private store with its data under ``home``, stopped at the end (or by the watchdog)."""
    store = PrivateStore(_store_binary(), home / "data", home / "store.log", env=env)
    with watchdog(store.pidfile, str(store.data)):
        store.start()
        yield store
        store.stop()


@pytest.fixture(scope="session")
def private_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateStore]:
    with store_of_its_own(tmp_path_factory.mktemp("store")) as store:
        yield store


@pytest.fixture(scope="session")
def private_servers(private_rabbit: PrivateRabbit, private_store: PrivateStore) -> Servers:
    return Servers(private_rabbit.url, private_store.url, "private")


@pytest.fixture(autouse=True)
def _private_servers_up(private_rabbit: PrivateRabbit, private_store: PrivateStore) -> None:
    """A test that failed mid-outage must not leave the next one without servers."""
    if not private_rabbit.running():
        private_rabbit.start()
    if not private_store.running():
        private_store.start()


@pytest.fixture
def settings(private_servers: Servers, run_id: str, unique: str) -> Settings:
    """As the root conftest's, on the private servers: ``processes`` starts services on them.
    Services run in this process log errors only: the outages make them warn a lot."""
    return make_settings(private_servers, f"{run_id}{unique}", log_level="error")


def service_process(settings: Settings, name: str, logs: Path, **env: str) -> ServiceProcess:
    """A service process on these settings (not started), logging to ``logs/<name>.log``."""
    port = free_port()
    return ServiceProcess(name, service_env(settings, SINERGI_PORT=str(port), **env), port, logs / f"{name}.log")


@pytest.fixture
def processes(settings: Settings, tmp_path: Path) -> Iterator[Callable[..., ServiceProcess]]:
    """The root conftest's ``processes``, patient with a busy machine (``START_TIMEOUT``)."""
    started: list[ServiceProcess] = []

    def start(name: str, wait_ready: bool = True, **env: str) -> ServiceProcess:
        proc = service_process(settings, name, tmp_path, **env)
        started.append(proc)
        proc.start(timeout=START_TIMEOUT, wait_ready=wait_ready)
        return proc

    yield start
    for proc in started:
        proc.stop()
