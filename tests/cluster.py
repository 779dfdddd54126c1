"""A three-node RabbitMQ cluster on loopback, of this test session alone (issue 15 point 4).

Built from Debian's package as the fault tests' single private node is (``tests/faults/conftest.py``):
the scripts in ``/usr/lib/rabbitmq/bin`` (the ``/usr/sbin`` wrappers switch user and directory and
drop our settings), and for each node its own name (``c1-<run>@localhost`` ..., the run in the name
so two sessions on one machine never meet in the shared epmd), AMQP and distribution ports, Mnesia,
logs, config and enabled-plugins file (else plugin changes would edit the system node's), and a
``HOME`` holding the cluster's own Erlang cookie (mode 400). c1 boots first; c2 and c3 name it in
``cluster_formation.classic_config`` and join while booting (~15 s in all here).

A node is killed with SIGKILL (its own VM's pid, from its pid file) and started again on the same
data, where it rejoins. The nodes are stopped at the end, and a watchdog stops each if the session
dies without its teardown. The shared epmd and the system node are never touched.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tests.faults.conftest import PrivateRabbit, rabbitmq_scripts, watchdog

PLUGINS = ["rabbitmq_consistent_hash_exchange"]  # sharded queues (SINERGI_SHARDS); no management: a faster boot


@dataclass
class ClusterNode(PrivateRabbit):
    """One node; ``seed`` is the node it joins at its first boot (none for the first)."""

    seed: str | None = None
    cookie: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        (self.home / "enabled_plugins").write_text(f"[{','.join(PLUGINS)}].\n")
        config = [f"listeners.tcp.default = 127.0.0.1:{self.port}"]
        if self.seed:
            config += ["cluster_formation.peer_discovery_backend = classic_config",
                       f"cluster_formation.classic_config.nodes.1 = {self.seed}"]
        (self.home / "rabbitmq.conf").write_text("\n".join(config) + "\n")
        cookie = self.home / ".erlang.cookie"
        cookie.write_text(self.cookie)
        cookie.chmod(0o400)

    @property
    def env(self) -> dict[str, str]:
        return {**super().env,
                "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
                "RABBITMQ_CTL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}"}

    def ctl(self, *args: str, timeout: float = 60) -> str:
        done = subprocess.run([str(self.scripts / "rabbitmqctl"), "-n", self.node, *args], env=self.env,
                              capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise AssertionError(f"rabbitmqctl -n {self.node} {' '.join(args)}: {done.stderr[-2000:]}")
        return done.stdout

    def boot(self, timeout: float = 120.0) -> None:
        """Start the node and wait until it has booted (joined its cluster, for c2 and c3)."""
        self.start(timeout)
        self.ctl("await_startup", "--timeout", str(int(timeout)), timeout=timeout + 10)

    def sigkill(self) -> None:
        pid = int(self.pidfile.read_text().strip())
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while self.running() or _alive(pid):
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.node} (pid {pid}) still runs 30 s after SIGKILL")
            time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


@dataclass
class RabbitCluster:
    nodes: list[ClusterNode] = field(default_factory=list)

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    def node(self, name: str) -> ClusterNode:
        return next(node for node in self.nodes if node.node == name)

    def running_nodes(self, via: ClusterNode | None = None) -> set[str]:
        """The nodes the cluster reports running, asked of ``via`` (the first running node by default)."""
        via = via or next(node for node in self.nodes if node.running())
        status = via.ctl("cluster_status", "--formatter", "json")
        import json

        return set(json.loads(status).get("running_nodes", []))

    def leader(self, queue: str, vhost: str = "/") -> ClusterNode:
        """The node that leads the quorum queue ``queue`` now."""
        via = next(node for node in self.nodes if node.running())
        for line in via.ctl("-q", "list_queues", "-p", vhost, "name", "leader", "--no-table-headers").splitlines():
            name, _, leader = line.rpartition("\t")
            if name == queue:
                return self.node(leader.strip())
        raise AssertionError(f"no queue {queue} in vhost {vhost} of the cluster")

    def members(self, queue: str, vhost: str = "/") -> list[str]:
        via = next(node for node in self.nodes if node.running())
        for line in via.ctl("-q", "list_queues", "-p", vhost, "name", "members", "--no-table-headers").splitlines():
            name, _, members = line.partition("\t")
            if name == queue:
                return [m.strip(" []'\"") for m in members.split(",") if m.strip(" []'\"")]
        return []


@contextlib.contextmanager
def rabbit_cluster(base: Path, run: str, size: int = 3) -> Iterator[RabbitCluster]:
    """Boot a ``size``-node cluster under ``base``; stop every node at the end."""
    scripts = rabbitmq_scripts()
    if scripts is None:
        raise RuntimeError("rabbitmq-server is not installed on this machine")
    cookie = secrets.token_hex(20).upper()
    names = [f"c{n}-{run}@localhost" for n in range(1, size + 1)]
    cluster = RabbitCluster([ClusterNode(base / name.split("@")[0], scripts, name, seed=None if n == 0 else names[0],
                                         cookie=cookie) for n, name in enumerate(names)])
    with contextlib.ExitStack() as stack:
        for node in cluster.nodes:
            stack.enter_context(watchdog(node.pidfile, str(node.home)))
        try:
            cluster.nodes[0].boot()
            with ThreadPoolExecutor(size) as pool:
                list(pool.map(lambda node: node.boot(), cluster.nodes[1:]))
            joined = cluster.running_nodes()
            if joined != set(names):
                raise AssertionError(f"the cluster formed with {sorted(joined)}, not {names}")
            yield cluster
        finally:
            for node in reversed(cluster.nodes):
                try:
                    if node.running():
                        node.stop()
                except (AssertionError, subprocess.TimeoutExpired):
                    node.kill()
