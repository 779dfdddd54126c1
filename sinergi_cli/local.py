"""The local dev runner: RabbitMQ, the embedded store and the three services on one machine.

Everything it starts is recorded under the state directory (``.sinergi/`` by default, or
``SINERGI_HOME``): PID files in ``run/``, logs in ``logs/``, the store's data in ``data/``,
the generated auth secret in ``secret``. ``down`` stops exactly what ``up`` started.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
STORE_SOURCE = ROOT / "deploy" / "local" / "store"
SERVICES = {"partners": 8101, "activities": 8102, "notifications": 8103}
AMQP_PORT = 5672
STORE_ADDR = ("127.0.0.1", 27017)


class RunnerError(Exception):
    """Something outside the project stops the runner; the message says what to do."""


@dataclass
class Home:
    path: Path

    @classmethod
    def default(cls) -> Home:
        return cls(Path(os.environ.get("SINERGI_HOME", ROOT / ".sinergi")).resolve())

    def __post_init__(self) -> None:
        for sub in ("run", "logs", "data", "bin"):
            (self.path / sub).mkdir(parents=True, exist_ok=True)

    @property
    def logs(self) -> Path:
        return self.path / "logs"

    def pidfile(self, name: str) -> Path:
        return self.path / "run" / f"{name}.pid"

    def secret(self) -> str:
        """The dev instance's auth secret, generated once and kept."""
        file = self.path / "secret"
        if not file.exists():
            file.write_text(secrets.token_urlsafe(48))
            file.chmod(0o600)
        return file.read_text().strip()


# --- probes ----------------------------------------------------------------------------------


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def speaks_amqp(host: str = "127.0.0.1", port: int = AMQP_PORT) -> bool:
    """True when the port answers the AMQP 0-9-1 protocol header with a Connection.Start frame."""
    try:
        with socket.create_connection((host, port), timeout=1.0) as sock:
            sock.sendall(b"AMQP\x00\x00\x09\x01")
            frame = sock.recv(8)
            return len(frame) >= 1 and frame[0] == 1  # method frame
    except OSError:
        return False


def speaks_mongo(host: str = STORE_ADDR[0], port: int = STORE_ADDR[1]) -> bool:
    from pymongo import MongoClient
    from pymongo.errors import PyMongoError

    try:
        with MongoClient(host, port, serverSelectionTimeoutMS=1000, connectTimeoutMS=1000) as client:
            client.admin.command("ping")
            return True
    except PyMongoError:
        return False


def pid_alive(pidfile: Path) -> int | None:
    try:
        pid = int(pidfile.read_text().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def wait_for(check, what: str, timeout: float) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise RunnerError(f"{what} did not come up within {timeout:.0f} s")


# --- RabbitMQ --------------------------------------------------------------------------------


def rabbitmq_up(home: Home, say) -> None:  # noqa: ANN001
    if speaks_amqp():
        say("rabbitmq: already running on 127.0.0.1:5672")
        return
    if port_open("127.0.0.1", AMQP_PORT):
        raise RunnerError(
            "port 5672 is taken by something that does not speak AMQP; stop it, or point "
            "SINERGI_RABBITMQ_URL at your RabbitMQ"
        )
    if shutil.which("rabbitmq-server") is None and not Path("/usr/sbin/rabbitmq-server").exists():
        say("rabbitmq: installing Debian's rabbitmq-server ...")
        _apt_install("rabbitmq-server")
    env = {**os.environ, "PATH": os.environ.get("PATH", "") + ":/usr/sbin:/usr/lib/rabbitmq/bin"}
    # Enabled offline so the first start already serves the management UI and shovels.
    subprocess.run(
        ["rabbitmq-plugins", "enable", "--offline", "rabbitmq_management", "rabbitmq_shovel",
         "rabbitmq_shovel_management", "rabbitmq_federation"],
        env=env, check=False, capture_output=True,
    )
    say("rabbitmq: starting (rabbitmq-server -detached) ...")
    subprocess.run(["rabbitmq-server", "-detached"], env=env, check=True, capture_output=True)
    (home.path / "run" / "rabbitmq.started").write_text("by sinergi up\n")
    wait_for(speaks_amqp, "RabbitMQ", 90)
    subprocess.run(["rabbitmqctl", "await_startup"], env=env, check=False, capture_output=True, timeout=90)
    say("rabbitmq: ready on 127.0.0.1:5672 (management UI http://127.0.0.1:15672, guest/guest)")


def rabbitmq_down(home: Home, say) -> None:  # noqa: ANN001
    marker = home.path / "run" / "rabbitmq.started"
    if not marker.exists():
        return
    env = {**os.environ, "PATH": os.environ.get("PATH", "") + ":/usr/sbin"}
    subprocess.run(["rabbitmqctl", "stop"], env=env, check=False, capture_output=True, timeout=60)
    marker.unlink(missing_ok=True)
    say("rabbitmq: stopped")


def _apt_install(package: str) -> None:
    if os.geteuid() != 0:
        raise RunnerError(f"{package} is not installed; run: sudo apt-get install -y {package}")
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(["apt-get", "install", "-y", "-qq", package], check=True,
                   env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


# --- the store ---------------------------------------------------------------------------------


def store_binary(home: Home, say) -> Path:  # noqa: ANN001
    """Build the embedded FerretDB once; rebuild only when its source changed."""
    binary = home.path / "bin" / "sinergi-store"
    sources = [STORE_SOURCE / "main.go", STORE_SOURCE / "go.mod", STORE_SOURCE / "go.sum"]
    newest = max(p.stat().st_mtime for p in sources if p.exists())
    if binary.exists() and binary.stat().st_mtime >= newest:
        return binary
    if shutil.which("go") is None:
        raise RunnerError("Go is needed once to build the store (deploy/local/store); install golang")
    say("store: building the embedded FerretDB (first time only, about a minute) ...")
    subprocess.run(["go", "build", "-o", str(binary), "."], cwd=STORE_SOURCE, check=True)
    return binary


def store_up(home: Home, say) -> None:  # noqa: ANN001
    if speaks_mongo():
        say("store: a MongoDB-wire server already answers on 127.0.0.1:27017")
        return
    if port_open(*STORE_ADDR):
        raise RunnerError("port 27017 is taken by something that does not speak MongoDB; stop it")
    binary = store_binary(home, say)
    log = home.logs / "store.log"
    process = subprocess.Popen(
        [str(binary), "-listen", f"{STORE_ADDR[0]}:{STORE_ADDR[1]}", "-data", str(home.path / "data"),
         "-log", str(log)],
        stdout=subprocess.DEVNULL, stderr=open(log, "ab"), start_new_session=True,  # noqa: SIM115
    )
    home.pidfile("store").write_text(str(process.pid))
    wait_for(speaks_mongo, "the store", 30)
    say(f"store: FerretDB (SQLite) on 127.0.0.1:27017, data in {home.path / 'data'}")


# --- services ----------------------------------------------------------------------------------


def service_env(home: Home) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("SINERGI_AUTH_SECRET", home.secret())
    env["SINERGI_DEV"] = "1"
    return env


def services_up(home: Home, say, only: list[str] | None = None) -> None:  # noqa: ANN001
    env = service_env(home)
    for name, port in SERVICES.items():
        if only and name not in only:
            continue
        pidfile = home.pidfile(name)
        if pid_alive(pidfile):
            say(f"{name}: already running (pid {pid_alive(pidfile)})")
            continue
        if port_open("127.0.0.1", port):
            raise RunnerError(f"port {port} for {name} is taken by another process; stop it first")
        log = open(home.logs / f"{name}.log", "ab")  # noqa: SIM115
        process = subprocess.Popen(
            [sys.executable, "-m", f"services.{name}"], cwd=ROOT, env={**env, "SINERGI_PORT": str(port)},
            stdout=log, stderr=log, start_new_session=True,
        )
        pidfile.write_text(str(process.pid))
    deadline = time.monotonic() + 60
    for name, port in SERVICES.items():
        if only and name not in only:
            continue
        while not _ready(port):
            if time.monotonic() > deadline:
                raise RunnerError(f"{name} is not ready after 60 s; see {home.logs / (name + '.log')}")
            if not pid_alive(home.pidfile(name)):
                raise RunnerError(f"{name} exited at start; see {home.logs / (name + '.log')}")
            time.sleep(0.3)
        say(f"{name}: ready on http://127.0.0.1:{port} (docs at /docs)")


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def stop(home: Home, name: str, say, timeout: float = 15.0) -> None:  # noqa: ANN001
    pidfile = home.pidfile(name)
    pid = pid_alive(pidfile)
    if pid is None:
        pidfile.unlink(missing_ok=True)
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except OSError:
            break
        time.sleep(0.2)
    else:
        os.kill(pid, signal.SIGKILL)
    pidfile.unlink(missing_ok=True)
    say(f"{name}: stopped")


def status(home: Home) -> list[tuple[str, str, str]]:
    rows = [
        ("rabbitmq", "up" if speaks_amqp() else "down", "amqp://127.0.0.1:5672  http://127.0.0.1:15672"),
        ("store", "up" if speaks_mongo() else "down", "mongodb://127.0.0.1:27017"),
    ]
    for name, port in SERVICES.items():
        pid = pid_alive(home.pidfile(name))
        state = "ready" if _ready(port) else ("starting" if pid else "down")
        rows.append((name, state, f"http://127.0.0.1:{port}" + (f"  pid {pid}" if pid else "")))
    return rows
