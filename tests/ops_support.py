"""Helpers of the operations tests: the local broker's management API, scratch vhosts and users.

Every vhost, user and shovel a test makes carries the test's unique name and is deleted at
the end, so the tests share the broker with everyone else's without touching their things.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import pytest

from sinergi_cli.broker import Management
from tests.servers import Servers

ROOT = Path(__file__).resolve().parent.parent


def management_url(servers: Servers) -> str:
    parsed = urlparse(servers.rabbitmq_url)
    user, password = parsed.username or "guest", parsed.password or "guest"
    return os.environ.get("SINERGI_RABBITMQ_MANAGEMENT_URL", f"http://{user}:{password}@{parsed.hostname}:15672")


def local_management(servers: Servers) -> Management:
    """The management API of the local broker; skips the test where there is none to use."""
    if not servers.rabbitmq_is_local:
        pytest.skip("needs the local RabbitMQ's management API and rabbitmqctl (the broker here is "
                    f"{servers.origin}: {urlparse(servers.rabbitmq_url).hostname})")
    management = Management(management_url(servers))
    if not management.answers():
        pytest.fail("the local RabbitMQ's management API does not answer on :15672; "
                    "enable it with: rabbitmq-plugins enable rabbitmq_management", pytrace=False)
    return management


@dataclass
class Scratch:
    """Vhosts, users and shovels made by one test, removed when it ends."""

    management: Management
    vhosts: list[str] = field(default_factory=list)
    users: list[str] = field(default_factory=list)
    shovels: list[tuple[str, str]] = field(default_factory=list)

    def vhost(self, name: str) -> str:
        """A new vhost the broker's administrator (the management user) may use fully."""
        self.management.add_vhost(name, "sinergi test")
        self.vhosts.append(name)
        self.management.set_permissions(_management_user(self.management), name, ".*", ".*", ".*")
        return name

    def cleanup(self) -> None:
        for vhost, name in self.shovels:
            with contextlib.suppress(Exception):
                self.management.delete_shovel(vhost, name)
        for vhost in self.vhosts:
            with contextlib.suppress(Exception):
                self.management.delete_vhost(vhost)
        for user in self.users:
            with contextlib.suppress(Exception):
                self.management.delete_user(user)


def _management_user(management: Management) -> str:
    return management.call("GET", "/whoami")["name"]


@contextlib.contextmanager
def scratch(management: Management) -> Iterator[Scratch]:
    made = Scratch(management)
    try:
        yield made
    finally:
        made.cleanup()
        management.client.close()


def sinergi(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the operator's CLI as an operator would, in its own process."""
    return subprocess.run([sys.executable, "-m", "sinergi_cli.main", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)
