"""Where the real RabbitMQ and MongoDB-wire store for the tests come from.

1. ``SINERGI_RABBITMQ_URL`` and ``SINERGI_MONGODB_URL`` when set (``make test`` sets them
   after starting the local servers);
2. otherwise ``rabbitmq:3.13-management`` and ``mongo:7`` with testcontainers, when a Docker
   engine answers;
3. otherwise the session fails with the command that starts local servers.

Every queue and exchange a test declares is durable, as in production, and a test session declares
thousands. Left behind, they make the broker's next start recover them all (minutes, or never
with the file handles a sandbox allows), so a session works in a vhost of its own, deleted when it
ends; vhosts of sessions that died without their teardown are deleted by the next session.
Queues are quorum queues, each a small Raft server holding file handles: a session's ~800 tests
would leave ~12,000 of them, and a broker whose file-handle cache is used up stops accepting
connections. So each test's queues are deleted when it ends (``Sweeper``), in the background.
"""

from __future__ import annotations

import contextlib
import os
import queue
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from urllib.parse import quote, urlparse, urlunparse

from sinergi_cli.broker import Management, ManagementError

SESSION_VHOST_PREFIX = "sinergi-test-"
START_LOCAL = "make test   (or: eval \"$(.venv/bin/sinergi infra up)\", which exports the two URLs)"


@dataclass
class Servers:
    rabbitmq_url: str
    mongodb_url: str
    origin: str  # "environment" or "containers"
    sweeper: Sweeper | None = field(default=None, repr=False)

    @property
    def rabbitmq_is_local(self) -> bool:
        host = urlparse(self.rabbitmq_url).hostname
        return self.origin == "environment" and host in {"127.0.0.1", "localhost"} and shutil.which("rabbitmqctl") is not None


def docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def resolve(stack: ExitStack) -> Servers:
    """The servers of this session, its RabbitMQ URL pointing at a vhost of its own where it can."""
    found, management_url = _servers(stack)
    return in_session_vhost(stack, found, management_url)


def _servers(stack: ExitStack) -> tuple[Servers, str]:
    rabbit, mongo = os.environ.get("SINERGI_RABBITMQ_URL"), os.environ.get("SINERGI_MONGODB_URL")
    if rabbit and mongo:
        parsed = urlparse(rabbit)
        management = os.environ.get(
            "SINERGI_RABBITMQ_MANAGEMENT_URL",
            f"http://{parsed.username or 'guest'}:{parsed.password or 'guest'}@{parsed.hostname}:15672")
        return Servers(rabbit, mongo, "environment"), management
    if docker_answers():
        from testcontainers.mongodb import MongoDbContainer
        from testcontainers.rabbitmq import RabbitMqContainer

        rabbit_container = stack.enter_context(
            RabbitMqContainer("rabbitmq:3.13-management").with_exposed_ports(5672, 15672))
        mongo_container = stack.enter_context(MongoDbContainer("mongo:7"))
        params = rabbit_container.get_connection_params()
        user, password = params.credentials.username, params.credentials.password
        rabbit_url = f"amqp://{user}:{password}@{params.host}:{params.port}/"
        management = f"http://{user}:{password}@{params.host}:{rabbit_container.get_exposed_port(15672)}"
        return Servers(rabbit_url, mongo_container.get_connection_url(), "containers"), management
    raise RuntimeError(
        "These tests need a real RabbitMQ and a MongoDB-wire store, and found neither URLs "
        "(SINERGI_RABBITMQ_URL, SINERGI_MONGODB_URL) nor a Docker engine. Start local ones with: "
        + START_LOCAL
    )


def in_session_vhost(stack: ExitStack, found: Servers, management_url: str) -> Servers:
    """``found`` with its RabbitMQ URL on a new vhost, deleted when ``stack`` closes.

    Without a management API to make one, the session uses the URL as given and says so.
    """
    management = stack.enter_context(Management(management_url, timeout=120))
    if not management.answers():
        print(f"tests: no RabbitMQ management API at {management.base}; the session's queues stay "
              "in the vhost of SINERGI_RABBITMQ_URL", file=sys.stderr)
        return found
    _delete_abandoned_vhosts(management)
    vhost = SESSION_VHOST_PREFIX + secrets.token_hex(4)
    try:
        management.add_vhost(vhost, f"sinergi test session pid={os.getpid()} host={socket.gethostname()} "
                                    f"started={int(time.time())}")
        stack.callback(_delete_quietly, management, vhost)
        sweeper = Sweeper(management_url, vhost)
        stack.callback(sweeper.close)  # runs before the vhost's deletion (callbacks run last-in first)
        user = management.call("GET", "/whoami")["name"]
        management.set_permissions(user, vhost, ".*", ".*", ".*")
    except ManagementError as exc:
        raise RuntimeError(
            f"the tests make a RabbitMQ vhost of their own, and the user of SINERGI_RABBITMQ_URL could not "
            f"({exc}); give it the 'administrator' tag, or point SINERGI_RABBITMQ_MANAGEMENT_URL at the "
            "management API as an administrator") from exc
    parsed = urlparse(found.rabbitmq_url)
    url = urlunparse((parsed.scheme, parsed.netloc, "/" + quote(vhost, safe=""), "", parsed.query, ""))
    return replace(found, rabbitmq_url=url, sweeper=sweeper)


class Sweeper:
    """Deletes the queues whose names start with a finished test's prefix, on a thread of its own so
    a test's teardown does not wait for the broker."""

    def __init__(self, management_url: str, vhost: str) -> None:
        self.management_url, self.vhost = management_url, vhost
        self.prefixes: queue.Queue[str | None] = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="queue-sweeper", daemon=True)
        self.thread.start()

    def sweep(self, prefix: str) -> None:
        self.prefixes.put(prefix)

    def close(self) -> None:
        self.prefixes.put(None)
        self.thread.join(timeout=120)

    def _run(self) -> None:
        with Management(self.management_url, timeout=60) as management:
            while (prefix := self.prefixes.get()) is not None:
                with contextlib.suppress(ManagementError):
                    path = f"/queues/{quote(self.vhost, safe='')}?columns=name"
                    for entry in management.call("GET", path, ok_missing=True) or []:
                        if entry["name"].startswith(prefix):
                            management.delete_queue(self.vhost, entry["name"])


def _delete_abandoned_vhosts(management: Management) -> None:
    """Session vhosts whose session ended without its teardown: its process is gone from this
    machine, or, for a session elsewhere, it started more than a day ago."""
    for entry in management.call("GET", "/vhosts?columns=name,description") or []:
        if entry["name"].startswith(SESSION_VHOST_PREFIX) and _abandoned(entry.get("description") or ""):
            _delete_quietly(management, entry["name"])


def _abandoned(description: str) -> bool:
    facts = dict(part.split("=", 1) for part in description.split() if "=" in part)
    try:
        pid, started = int(facts["pid"]), int(facts["started"])
    except (KeyError, ValueError):
        return True
    if facts.get("host") == socket.gethostname():
        return not _alive(pid)
    return time.time() - started > 86_400


def _delete_quietly(management: Management, vhost: str) -> None:
    with contextlib.suppress(ManagementError):
        management.delete_vhost(vhost)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
