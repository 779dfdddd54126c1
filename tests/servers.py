"""Where the real RabbitMQ and MongoDB-wire store for the tests come from.

1. ``SINERGI_RABBITMQ_URL`` and ``SINERGI_MONGODB_URL`` when set (``make test`` sets them
   after starting the local servers);
2. otherwise ``rabbitmq:3.13-management`` and ``mongo:7`` with testcontainers, when a Docker
   engine answers;
3. otherwise the session fails with the command that starts local servers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from contextlib import ExitStack
from dataclasses import dataclass
from urllib.parse import urlparse

START_LOCAL = "make test   (or: .venv/bin/sinergi infra up, then export the two URLs it prints)"


@dataclass
class Servers:
    rabbitmq_url: str
    mongodb_url: str
    origin: str  # "environment" or "containers"

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
    rabbit, mongo = os.environ.get("SINERGI_RABBITMQ_URL"), os.environ.get("SINERGI_MONGODB_URL")
    if rabbit and mongo:
        return Servers(rabbit, mongo, "environment")
    if docker_answers():
        from testcontainers.mongodb import MongoDbContainer
        from testcontainers.rabbitmq import RabbitMqContainer

        rabbit_container = stack.enter_context(RabbitMqContainer("rabbitmq:3.13-management"))
        mongo_container = stack.enter_context(MongoDbContainer("mongo:7"))
        params = rabbit_container.get_connection_params()
        rabbit_url = (f"amqp://{params.credentials.username}:{params.credentials.password}"
                      f"@{params.host}:{params.port}/")
        return Servers(rabbit_url, mongo_container.get_connection_url(), "containers")
    raise RuntimeError(
        "These tests need a real RabbitMQ and a MongoDB-wire store, and found neither URLs "
        "(SINERGI_RABBITMQ_URL, SINERGI_MONGODB_URL) nor a Docker engine. Start local ones with: "
        + START_LOCAL
    )
