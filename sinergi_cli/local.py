"""The local dev runner: RabbitMQ, the embedded store, the three services, the console and a mail catcher.

Over 400 lines because its five parts share one state directory (:class:`Home`) and the probes;
split it by part when one of them grows.

Everything it starts is recorded under the state directory (``.sinergi/`` by default, or
``SINERGI_HOME``): PID files in ``run/``, logs in ``logs/``, the store's data in ``data/``,
the generated auth secret in ``secret``, caught e-mails in ``mail/``. ``down`` stops exactly
what ``up`` started.

An :class:`Instance` is what one ``sinergi up`` runs: the default one, or a region's from a
``deploy/regions/<code>.env`` file, with its own state directory, ports, vhost and database
prefix. Either way its services each connect with their own least-privilege broker user in its
vhost (the default instance's is ``sinergi-<region digits>``, see :mod:`sinergi_cli.regions`),
the region's definitions applied first, as in production. RabbitMQ and the store are the
host's: the default instance starts and stops them; a region's only uses them, so stopping a
region never stops them.
"""

from __future__ import annotations

import os
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from shared.serve import APPS, PORTS
from sinergi_cli.regions import Region

ROOT = Path(__file__).resolve().parent.parent
STORE_SOURCE = ROOT / "deploy" / "local" / "store"
AMQP_PORT = 5672
STORE_ADDR = ("127.0.0.1", 27017)
LOOPBACK = "127.0.0.0/8,::1"


def table_console():  # noqa: ANN201 - rich is imported only where tables are shown
    """Standard output for tables: the terminal's width, or wide enough not to wrap in a pipe or a log."""
    from rich.console import Console

    out = Console()
    return out if out.is_terminal else Console(width=200)


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


@dataclass
class Instance:
    """One set of services with its state directory, ports and environment."""

    region: Region
    home: Home

    @classmethod
    def load(cls, region_file: Path | str | None = None) -> Instance:
        region = Region.load(region_file)
        return cls(region, Home(region.home) if region.home else Home.default())

    @property
    def is_region(self) -> bool:
        """Started from a region file: a region of a shared host, which uses RabbitMQ and the store
        the default instance manages."""
        return self.region.file is not None

    @property
    def ports(self) -> dict[str, int]:
        """The services' ports, then the console's (``SINERGI_CONSOLE_PORT``; region files older
        than issue 13's follow-up named it ``SINERGI_CONSOLE_HTTP_PORT``, still read)."""
        ports = {name: self.region.port(name) for name in PORTS}
        ports["console"] = int(self.region.get("CONSOLE_PORT") or self.region.get("CONSOLE_HTTP_PORT")
                               or APPS["console"])
        return ports

    @property
    def infra_home(self) -> Home:
        """Where RabbitMQ and the store are recorded: for a region, the host's (``.sinergi/``)."""
        return Home(ROOT / ".sinergi") if self.is_region else self.home

    @property
    def label(self) -> str:
        return f"{self.region.settings.region} {self.region.settings.region_name}"


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
            "SINERGI_RABBITMQ_URL at your RabbitMQ (a RabbitMQ that accepts connections but never answers "
            "has used up its file handles: `rabbitmq-diagnostics status` shows them; restart it)"
        )
    if shutil.which("rabbitmq-server") is None and not Path("/usr/sbin/rabbitmq-server").exists():
        say("rabbitmq: installing Debian's rabbitmq-server ...")
        _apt_install("rabbitmq-server")
    env = {**os.environ, "PATH": os.environ.get("PATH", "") + ":/usr/sbin:/usr/lib/rabbitmq/bin"}
    # Enabled offline so the first start already serves the management UI, shovels and the
    # consistent-hash exchange of sharded queues (SINERGI_SHARDS, docs/operations.md "Scaling").
    subprocess.run(
        ["rabbitmq-plugins", "enable", "--offline", "rabbitmq_management", "rabbitmq_shovel",
         "rabbitmq_shovel_management", "rabbitmq_federation", "rabbitmq_consistent_hash_exchange"],
        env=env, check=False, capture_output=True,
    )
    say("rabbitmq: starting (rabbitmq-server -detached) ...")
    command, how = _rabbitmq_server(env)
    subprocess.run(command, check=True, capture_output=True, **how)
    (home.path / "run" / "rabbitmq.started").write_text("by sinergi up\n")
    try:
        wait_for(speaks_amqp, "RabbitMQ", 90)
    except RunnerError as exc:
        # Seen: a node that must recover thousands of durable queues left by earlier runs.
        raise RunnerError(f"{exc}; its log is in /var/log/rabbitmq/ (a node recovering thousands of "
                          "durable queues starts slowly: delete vhosts you no longer need)") from exc
    subprocess.run(["rabbitmqctl", "await_startup"], env=env, check=False, capture_output=True, timeout=90)
    say("rabbitmq: ready on 127.0.0.1:5672 (management UI http://127.0.0.1:15672, guest/guest)")


# Every quorum queue reserves handles in the node's file-handle cache, which sizes itself from the
# soft limit on open files. Debian's init script raises it; a shell's default (1024) lets a node hold
# only ~300 quorum queues before it stops accepting connections (it accepts the socket, then waits).
FILE_HANDLES = 65_536


def _more_file_handles() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = FILE_HANDLES if hard == resource.RLIM_INFINITY else min(FILE_HANDLES, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def _rabbitmq_server(env: dict[str, str]) -> tuple[list[str], dict[str, Any]]:
    """How to start a detached node with room for its queues. Debian's ``/usr/sbin`` wrapper starts
    it through ``su``, which drops a raised limit; as root we do what the wrapper does (the
    ``rabbitmq`` user, its home as the working directory) with the limit raised."""
    server = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
    if os.geteuid() != 0 or not server.exists():
        return ["rabbitmq-server", "-detached"], {"env": env, "preexec_fn": _more_file_handles}
    home = "/var/lib/rabbitmq"
    return [str(server), "-detached"], {"env": {**env, "HOME": home}, "cwd": home, "user": "rabbitmq",
                                        "group": "rabbitmq", "extra_groups": [],
                                        "preexec_fn": _more_file_handles}


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
    run_aside(["apt-get", "update", "-qq"])
    run_aside(["apt-get", "install", "-y", "-qq", package], env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


def run_aside(command: list[str], **options: object) -> None:
    """Run an installer or a build with what it prints sent to stderr: ``sinergi infra up``'s
    stdout is the settings a shell evaluates (``make test``), and dpkg's "Selecting previously
    unselected package" there broke a fresh machine's CI."""
    sys.stdout.flush()
    subprocess.run(command, check=True, stdout=sys.stderr, **options)  # type: ignore[call-overload]


# --- the store ---------------------------------------------------------------------------------


def store_binary(home: Home, say) -> Path:  # noqa: ANN001
    """Build the embedded FerretDB once; rebuild only when its source changed."""
    binary = home.path / "bin" / "sinergi-store"
    sources = [*STORE_SOURCE.glob("*.go"), STORE_SOURCE / "go.mod", STORE_SOURCE / "go.sum"]
    newest = max(p.stat().st_mtime for p in sources if p.exists())
    if binary.exists() and binary.stat().st_mtime >= newest:
        return binary
    if shutil.which("go") is None:
        raise RunnerError("Go is needed once to build the store (deploy/local/store); install golang")
    say("store: building the embedded FerretDB (first time only, about a minute) ...")
    run_aside(["go", "build", "-o", str(binary), "."], cwd=STORE_SOURCE)
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


def service_env(instance: Instance) -> dict[str, str]:
    env = {**os.environ, **instance.region.env}
    # The console calls this instance's services over HTTP (services/console/config.py).
    ports = instance.ports
    for name in PORTS:
        env.setdefault(f"SINERGI_CONSOLE_{name.upper()}_URL", f"http://127.0.0.1:{ports[name]}")
    env.setdefault("SINERGI_CONSOLE_PUBLIC_URL", f"http://127.0.0.1:{ports['console']}")
    env.setdefault("SINERGI_AUTH_SECRET", instance.home.secret())
    env["SINERGI_DEV"] = "1"
    env["SINERGI_HOME"] = str(instance.home.path)
    # Webhooks go only to public addresses unless a deployment allows others; a developer's
    # receivers listen on this machine (SINERGI_NOTIFY_WEBHOOK_ALLOW in services/notifications).
    env.setdefault("SINERGI_NOTIFY_WEBHOOK_ALLOW", LOOPBACK)
    # E-mails from and replies to the office (the mail catcher shows them), and where invitation
    # answer links point: this machine's notifications service.
    office = f"sosdiklih@kpu-{instance.region.settings.region_digits}.example"
    env.setdefault("SINERGI_NOTIFY_MAIL_FROM", f"Sinergi KPU {instance.region.settings.region_name} <sinergi@kpu-"
                                               f"{instance.region.settings.region_digits}.example>")
    env.setdefault("SINERGI_NOTIFY_MAIL_REPLY_TO", f"Sosdiklih KPU {instance.region.settings.region_name} <{office}>")
    env.setdefault("SINERGI_NOTIFY_PUBLIC_URL", f"http://127.0.0.1:{ports['notifications']}")
    # Chat goes to the local sink (chat_up) unless a developer set real providers.
    sink = f"http://127.0.0.1:{CHAT_PORT}"
    if not env.get("SINERGI_NOTIFY_WHATSAPP_TOKEN") and not env.get("SINERGI_NOTIFY_WHATSAPP_GATEWAY_URL"):
        env.update(SINERGI_NOTIFY_WHATSAPP_TOKEN="dev", SINERGI_NOTIFY_WHATSAPP_PHONE_NUMBER_ID="dev",
                   SINERGI_NOTIFY_WHATSAPP_API_URL=sink)
    if not env.get("SINERGI_NOTIFY_TELEGRAM_BOT_TOKEN"):
        env.update(SINERGI_NOTIFY_TELEGRAM_BOT_TOKEN="dev", SINERGI_NOTIFY_TELEGRAM_API_URL=sink)
    return env


def broker_up(instance: Instance, say) -> dict[str, str]:  # noqa: ANN001
    """Apply the instance's broker definitions; returns each service's own AMQP URL (its user)."""
    from sinergi_cli import broker

    region = instance.region
    passwords = broker.region_passwords(region, instance.home.path / "broker-passwords.json")
    try:
        with broker.Management(region.management_url) as management:
            urls = broker.apply(region, management, passwords)
    except broker.ManagementError as exc:
        raise RunnerError(str(exc)) from exc
    say(f"rabbitmq: vhost {region.vhost} with a user per service (definitions from the code)")
    return urls


def services_start(instance: Instance, say, only: list[str] | None = None,  # noqa: ANN001
                   broker_urls: dict[str, str] | None = None) -> None:
    """Start the instance's services that are not running; does not wait for them."""
    home = instance.home
    env = service_env(instance)
    for name, port in instance.ports.items():
        if only and name not in only:
            continue
        pidfile = home.pidfile(name)
        if pid_alive(pidfile):
            say(f"{name}: already running (pid {pid_alive(pidfile)})")
            continue
        if port_open("127.0.0.1", port):
            if name == "console":  # a page for people: the services run without it (as without the mail page)
                say(f"console: port {port} is taken by another process; not started "
                    "(SINERGI_CONSOLE_PORT moves it)")
                continue
            raise RunnerError(f"port {port} for {name} is taken by another process; stop it first")
        log = open(home.logs / f"{name}.log", "ab")  # noqa: SIM115
        # The console has no broker user: it talks to the services over HTTP only.
        own = {"SINERGI_RABBITMQ_URL": broker_urls[name]} if broker_urls and name in broker_urls else {}
        process = subprocess.Popen(
            [sys.executable, "-m", f"services.{name}"], cwd=ROOT, env={**env, **own, "SINERGI_PORT": str(port)},
            stdout=log, stderr=log, start_new_session=True,
        )
        pidfile.write_text(str(process.pid))


def services_wait(instance: Instance, say, only: list[str] | None = None, timeout: float = 90.0) -> None:  # noqa: ANN001
    """Wait until each of the instance's services answers ``/readyz``."""
    home = instance.home
    deadline = time.monotonic() + timeout
    prefix = f"{instance.region.settings.region} " if instance.is_region else ""
    for name, port in instance.ports.items():
        if only and name not in only:
            continue
        if name == "console" and not pid_alive(home.pidfile(name)):
            continue  # not started: its port was taken (services_start said so)
        while not _ready(port):
            if time.monotonic() > deadline:
                raise RunnerError(f"{prefix}{name} is not ready after {timeout:.0f} s; see {home.logs / (name + '.log')}")
            if not pid_alive(home.pidfile(name)):
                raise RunnerError(f"{prefix}{name} exited at start; see {home.logs / (name + '.log')}")
            time.sleep(0.3)
        say(f"{prefix}{name}: ready on http://127.0.0.1:{port} (docs at /docs)")


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def stop(home: Home, name: str, say, timeout: float = 15.0) -> None:  # noqa: ANN001
    stop_all(home, [name], say, timeout)


def stop_all(home: Home, names: list[str], say, timeout: float = 15.0) -> None:  # noqa: ANN001
    """SIGTERM each of ``names`` at once, wait for all (SIGKILL after ``timeout``)."""
    running: dict[str, int] = {}
    for name in names:
        pid = pid_alive(home.pidfile(name))
        if pid is None:
            home.pidfile(name).unlink(missing_ok=True)
            continue
        os.kill(pid, signal.SIGTERM)
        running[name] = pid
    deadline = time.monotonic() + timeout
    while running and time.monotonic() < deadline:
        for name, pid in list(running.items()):
            if not _alive(pid):
                del running[name]
                home.pidfile(name).unlink(missing_ok=True)
                say(f"{name}: stopped")
        time.sleep(0.1)
    for name, pid in running.items():
        os.kill(pid, signal.SIGKILL)
        home.pidfile(name).unlink(missing_ok=True)
        say(f"{name}: killed after {timeout:.0f} s")


def _alive(pid: int) -> bool:
    try:
        # Reap it if it is our child (a zombie still answers signal 0).
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


# --- the mail catcher --------------------------------------------------------------------------

MAILCATCHER = "sinergi_cli.mailcatcher"


def mailcatcher_available() -> bool:
    import importlib.util

    return importlib.util.find_spec(MAILCATCHER) is not None


def mail_where(instance: Instance) -> str:
    region = instance.region
    return (f"smtp://127.0.0.1:{region.smtp_port}  http://127.0.0.1:{region.mail_http_port}  "
            f"{instance.home.path / 'mail'}/")


def mail_up(instance: Instance, say) -> None:  # noqa: ANN001
    """Catch the services' e-mails on the SMTP port of ``SINERGI_SMTP_URL``, if nothing else does."""
    home, region = instance.home, instance.region
    if pid_alive(home.pidfile("mail")):
        say(f"mail: already catching on {mail_where(instance)}")
        return
    if not mailcatcher_available():
        say(f"mail: {MAILCATCHER} is not in this checkout yet; e-mails are not caught")
        return
    if port_open("127.0.0.1", region.smtp_port):
        say(f"mail: port {region.smtp_port} already answers (another catcher or an SMTP server); using it")
        return
    maildir = home.path / "mail"
    maildir.mkdir(exist_ok=True)
    log = open(home.logs / "mail.log", "ab")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", MAILCATCHER, "--host", "127.0.0.1", "--port", str(region.smtp_port),
         "--maildir", str(maildir), "--http-port", str(region.mail_http_port)],
        cwd=ROOT, stdout=log, stderr=log, start_new_session=True,
    )
    home.pidfile("mail").write_text(str(process.pid))
    try:
        wait_for(lambda: port_open("127.0.0.1", region.smtp_port), "the mail catcher", 15)
    except RunnerError:
        say(f"mail: the catcher did not start; see {home.logs / 'mail.log'}")
        return
    say(f"mail: caught on {mail_where(instance)}")


# --- the chat sink ----------------------------------------------------------------------------

CHATSINK = "sinergi_cli.chatsink"
CHAT_PORT = int(os.environ.get("SINERGI_CHAT_HTTP_PORT", "8026"))


def chat_where(instance: Instance) -> str:
    return f"http://127.0.0.1:{CHAT_PORT}  {instance.home.path / 'chat'}/"


def chat_up(instance: Instance, say) -> None:  # noqa: ANN001
    """Catch the services' WhatsApp and Telegram messages (sinergi_cli/chatsink.py), if nothing else does."""
    home = instance.home
    if pid_alive(home.pidfile("chat")):
        say(f"chat: already catching on {chat_where(instance)}")
        return
    if port_open("127.0.0.1", CHAT_PORT):
        say(f"chat: port {CHAT_PORT} already answers (another region's sink?); using it")
        return
    log = open(home.logs / "chat.log", "ab")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", CHATSINK, "--host", "127.0.0.1", "--port", str(CHAT_PORT),
         "--dir", str(home.path / "chat")],
        cwd=ROOT, stdout=log, stderr=log, start_new_session=True,
    )
    home.pidfile("chat").write_text(str(process.pid))
    try:
        wait_for(lambda: port_open("127.0.0.1", CHAT_PORT), "the chat sink", 15)
    except RunnerError:
        say(f"chat: the sink did not start; see {home.logs / 'chat.log'}")
        return
    say(f"chat: WhatsApp and Telegram messages caught on {chat_where(instance)}")


def status(instance: Instance) -> list[tuple[str, str, str]]:
    home = instance.home
    rows = [
        ("rabbitmq", "up" if speaks_amqp() else "down",
         f"amqp://127.0.0.1:5672/{'' if instance.region.vhost == '/' else instance.region.vhost}  http://127.0.0.1:15672"),
        ("store", "up" if speaks_mongo() else "down",
         f"mongodb://127.0.0.1:27017  databases {instance.region.settings.db_prefix}*"),
    ]
    for name, port in instance.ports.items():
        pid = pid_alive(home.pidfile(name))
        # The console's /readyz checks its store and the three services it calls.
        state = "ready" if _ready(port) else ("starting" if pid else "down")
        rows.append((name, state, f"http://127.0.0.1:{port}" + (f"  pid {pid}" if pid else "")))
    mail_pid = pid_alive(home.pidfile("mail"))
    mail_state = "up" if mail_pid and port_open("127.0.0.1", instance.region.smtp_port) else (
        "starting" if mail_pid else "down" if mailcatcher_available() else "absent")
    rows.append(("mail", mail_state, mail_where(instance)))
    chat_pid = pid_alive(home.pidfile("chat"))
    rows.append(("chat", "up" if chat_pid and port_open("127.0.0.1", CHAT_PORT) else (
        "starting" if chat_pid else "down"), chat_where(instance)))
    return rows


# --- the console's browser assets and the browser tests' Chromium ------------------------------

CONSOLE_DIR = ROOT / "services" / "console"


def console_assets_up(say) -> None:  # noqa: ANN001
    """``npm ci`` of the console's package-lock.json (htmx, and axe-core for the browser tests),
    once per change of the lock file; npm from Debian if it is missing."""
    lock = CONSOLE_DIR / "package-lock.json"
    installed = CONSOLE_DIR / "node_modules" / ".package-lock.json"
    if installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime:
        return
    if shutil.which("npm") is None:
        say("console: installing Debian's npm ...")
        _apt_install("npm")
    say("console: npm ci (the browser assets, pinned by services/console/package-lock.json) ...")
    run_aside(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=CONSOLE_DIR)


def chromium_path() -> str | None:
    return shutil.which("chromium") or next((p for p in ("/usr/bin/chromium",) if Path(p).exists()), None)


def chromium_up(say) -> None:  # noqa: ANN001
    """Debian's Chromium for the browser tests (Playwright's own browser download is not used)."""
    if chromium_path():
        return
    say("browser tests: installing Debian's chromium ...")
    _apt_install("chromium")
