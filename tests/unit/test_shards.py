"""Shards of a consumer queue (``SINERGI_SHARDS``), without a broker: names, ownership, permissions."""

from __future__ import annotations

import json
import re

import pytest

from shared.bus import AGGREGATE_HEADER, _aggregate_header
from shared.consumer import EventQueue
from shared.shards import ShardedQueue
from sinergi_cli.ops.topology import definitions, documentation_settings


@pytest.mark.parametrize(("shards", "processes"), [(4, 2), (4, 3), (8, 4), (2, 4)])
def test_each_shard_is_some_processes_own_and_only_one(shards: int, processes: int):
    settings = documentation_settings(shards=shards, processes=processes)
    sharded = ShardedQueue.of(settings, EventQueue.of(settings, "activities", "partner-replica", ["partner.*"]))
    owners = [[slot for slot in range(processes) if shard in sharded.own(slot, processes)] for shard in sharded.shards]
    assert all(len(found) == 1 for found in owners), owners
    assert sharded.own(None, processes) == [], "a process without a slot attaches first to nothing"


def test_shards_keep_their_own_counters():
    settings = documentation_settings(shards=2)
    sharded = ShardedQueue.of(settings, EventQueue.of(settings, "activities", "partner-replica", ["partner.*"]))
    sharded.shards[0].stats["processed"] += 1
    assert sharded.shards[1].stats["processed"] == 0


def test_the_aggregate_header_comes_from_the_stored_body():
    assert _aggregate_header(json.dumps({"subject": "p-1", "id": "e"})) == {AGGREGATE_HEADER: "p-1"}
    assert _aggregate_header("not json") == {}
    assert _aggregate_header(json.dumps({"id": "e"})) == {}


def test_one_shard_declares_exactly_the_topology_of_before():
    names = {q["name"] for q in definitions(documentation_settings(), "v")["queues"]}
    assert "notifications.events" in names and not [n for n in names if ".shard-" in n]
    exchanges = {x["type"] for x in definitions(documentation_settings(), "v")["exchanges"]}
    assert "x-consistent-hash" not in exchanges


def test_each_service_user_may_declare_and_consume_its_shards_and_touch_no_other_services():
    found = definitions(documentation_settings(shards=4, processes=2), "v")
    permissions = {p["user"].removeprefix("v-"): p for p in found["permissions"]}
    own = {service: [n for n in [q["name"] for q in found["queues"]] + [x["name"] for x in found["exchanges"]]
                     if n.startswith(f"{service}.")] for service in ("activities", "notifications")}
    assert any(n.endswith(".shards") for n in own["notifications"])
    for service, names in own.items():
        for name in names:
            for kind in ("configure", "write", "read"):
                assert re.match(permissions[service][kind], name), (service, kind, name)
            for other, granted in permissions.items():
                if other == service or other == "subscriber":
                    continue
                assert not re.match(granted["configure"], name), (other, name)
                assert not re.match(granted["read"], name), (other, name)
                if not re.fullmatch(r".*\.shard-\d+", name):  # a shard takes the other's replayed events
                    assert not re.match(granted["write"], name), (other, "write", name)
    bindings = [b for b in found["bindings"] if b["destination_type"] == "exchange"]
    assert {b["destination"] for b in bindings} == {n for names in own.values() for n in names if n.endswith(".shards")}
    assert all(b["source"] == "sinergi.events" for b in bindings)
