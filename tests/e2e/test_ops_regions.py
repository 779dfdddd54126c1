"""Two regions side by side on one RabbitMQ and one store, and a subscriber on a hub vhost.

Both regions are started with one command, as an operator starts them, ``sinergi up -r
<32.73 file> -r <33.16 file>``: the shipped region files (region, name, time zone) with the
lines that place them on a host (state directory, ports, vhost, database prefix) moved to
this test's own. A partner registered in one never appears in the other;
``examples/subscriber.py`` on a third vhost receives the activity events of both through
shovels made with ``sinergi broker shovel``; ``sinergi events replay`` serves one that was away.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

import aio_pika
import httpx

from shared.auth import mint
from shared.events import EventType, make_event
from shared.serve import APPS, PORTS
from sinergi_cli.local import mailcatcher_available
from sinergi_cli.ops import topology
from sinergi_cli.regions import amqp_url
from tests.conftest import free_port
from tests.ops_support import ROOT, local_management, management_url, scratch, sinergi

REGIONS = {"32.73": "Kota Bandung", "33.16": "Kab. Blora"}


def region_env(servers, prefix: str, code: str, home: Path) -> dict[str, str]:
    """Where this test puts the region: every host-specific line of its region file."""
    digits = code.replace(".", "")
    vhost = f"{prefix}-{digits}"
    broker = urlparse(servers.rabbitmq_url)
    return {
        "SINERGI_RABBITMQ_URL": f"amqp://{broker.hostname}:{broker.port or 5672}/{vhost}",
        "SINERGI_VHOST": vhost,
        "SINERGI_MONGODB_URL": servers.mongodb_url,
        "SINERGI_DB_PREFIX": f"{prefix}_{digits}_",
        "SINERGI_PARTNERS_PORT": str(free_port()),
        "SINERGI_ACTIVITIES_PORT": str(free_port()),
        "SINERGI_NOTIFICATIONS_PORT": str(free_port()),
        "SINERGI_CONSOLE_PORT": str(free_port()),
        "SINERGI_SMTP_URL": f"smtp://127.0.0.1:{free_port()}",
        "SINERGI_MAIL_HTTP_PORT": str(free_port()),
        "SINERGI_HOME": str(home),
        "SINERGI_RABBITMQ_MANAGEMENT_URL": management_url(servers),
    }


def region_file(code: str, placed: dict[str, str], directory: Path) -> str:
    """deploy/regions/<code>.env with the host-specific lines replaced by ``placed``."""
    lines, seen = [], set()
    for line in (ROOT / "deploy" / "regions" / f"{code}.env").read_text().splitlines():
        key = line.split("=", 1)[0].strip()
        if not line.lstrip().startswith("#") and key in placed:
            line, seen = f"{key}={placed[key]}", seen | {key}
        lines.append(line)
    lines += [f"{key}={value}" for key, value in placed.items() if key not in seen]
    file = directory / f"{code}.env"
    file.write_text("\n".join(lines) + "\n")
    return str(file)


def wait(probe, timeout: float, what: str):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := probe():
            return found
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout} s")


def test_two_regions_side_by_side_and_a_hub_subscriber_gets_the_activity_events_of_both(
    servers, run_id, unique, tmp_path
):
    management = local_management(servers)
    prefix = f"{run_id}{unique}"
    envs = {code: region_env(servers, prefix, code, tmp_path / code) for code in REGIONS}
    files = {code: region_file(code, envs[code], tmp_path) for code in REGIONS}
    env = {k: v for k, v in os.environ.items() if not k.startswith("SINERGI_")}
    env.update({"SINERGI_RETRY_DELAYS": "0.2,0.4", "SINERGI_OUTBOX_SWEEP_SECONDS": "0.5"})
    both = ["-r", files["32.73"], "-r", files["33.16"]]
    with scratch(management) as made:
        for placed in envs.values():
            made.vhosts.append(placed["SINERGI_VHOST"])
            made.users.extend([topology.service_user(placed["SINERGI_VHOST"], s) for s in PORTS]
                              + [topology.subscriber_user(placed["SINERGI_VHOST"])])
        try:
            started = sinergi("up", *both, env=env)
            assert started.returncode == 0, started.stdout + started.stderr
            assert all(name in started.stderr for name in REGIONS.values()), started.stderr
            status = sinergi("status", "--region-file", files["33.16"], env=env)
            assert "Kab. Blora" in status.stdout and status.stdout.count("ready") == len(APPS), status.stdout
            mail = next(line for line in status.stdout.splitlines() if " mail " in line)
            # The mail catcher is started when its module is in the checkout, each region on its own port.
            assert (" up " in mail) if mailcatcher_available() else (" absent " in mail), mail
            assert envs["33.16"]["SINERGI_SMTP_URL"].rsplit(":", 1)[1] in mail

            since = datetime.now(UTC)
            _a_partner_stays_in_its_region(envs)
            _the_hub_subscriber_gets_both_regions(servers, made, prefix, envs, files, env, tmp_path)
            _a_subscriber_that_was_away_gets_a_replay(servers, envs["32.73"], files["32.73"], env, since)
        finally:
            sinergi("down", *both, env=env)


def _client(env: dict[str, str], service: str, role: str = "operator") -> httpx.Client:
    secret = (Path(env["SINERGI_HOME"]) / "secret").read_text().strip()
    region = "32.73" if env["SINERGI_VHOST"].endswith("3273") else "33.16"
    token = mint(secret, sub="test", role=role, regions=[region])
    return httpx.Client(base_url=f"http://127.0.0.1:{env[f'SINERGI_{service.upper()}_PORT']}",
                        headers={"Authorization": f"Bearer {token}"}, timeout=10)


def _a_partner_stays_in_its_region(envs: dict[str, dict[str, str]]) -> None:
    bandung, blora = envs["32.73"], envs["33.16"]
    with _client(bandung, "partners") as partners, _client(blora, "partners") as other:
        created = partners.post("/partners", json={"name": "KIM Cibeunying", "type": "kim", "region": "32.73"})
        assert created.status_code == 201, created.text
        partner_id = created.json()["id"]
        with _client(bandung, "activities", "viewer") as activities:
            wait(lambda: activities.get(f"/replica/partners/{partner_id}").status_code == 200, 10,
                 "the partner in its own region's activities replica")

        assert other.get(f"/partners/{partner_id}").status_code == 404
        listed = other.get("/partners", params={"q": "Cibeunying"})
        assert listed.status_code == 200 and listed.json()["items"] == []
        # Its own registry: the same name is free there.
        same_name = other.post("/partners", json={"name": "KIM Cibeunying", "type": "kim", "region": "33.16"})
        assert same_name.status_code == 201, same_name.text
        # A token of one region is refused by the other.
        refused = other.post("/partners", headers={"Authorization": partners.headers["Authorization"]},
                             json={"name": "Diskominfo", "type": "opd_diskominfo", "region": "33.16"})
        assert refused.status_code in {401, 403}, refused.text
    with _client(blora, "activities", "viewer") as activities:
        time.sleep(0.5)  # events of 32.73 would have arrived by now; a bounded negative check
        assert activities.get(f"/replica/partners/{partner_id}").status_code == 404


def _the_hub_subscriber_gets_both_regions(servers, made, prefix, envs, files, env, tmp_path) -> None:  # noqa: ANN001
    hub = f"{prefix}-hub"
    made.vhosts.append(hub)
    for code, placed in envs.items():
        name = f"{prefix}-shovel-{code.replace('.', '')}"
        made.users.append(name)
        made.shovels.append((hub, name))
        shovel = sinergi("broker", "shovel", name, "--from-vhost", placed["SINERGI_VHOST"], "--to-vhost", hub,
                         "--binding", "*.activity.*", "-r", files[code], env=env)
        assert shovel.returncode == 0, shovel.stderr

    dashboard = f"{prefix}-dashboard"
    made.users.append(dashboard)
    added = sinergi("broker", "subscriber", dashboard, "--vhost", hub, "-r", files["32.73"], env=env)
    assert added.returncode == 0, added.stderr
    url = added.stdout.strip().splitlines()[-1]

    out = open(tmp_path / "subscriber.out", "w+")  # noqa: SIM115
    subscriber = subprocess.Popen([sys.executable, "examples/subscriber.py", "--url", url, "--count", "2"],
                                  cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, text=True)
    try:
        wait(lambda: any(q["name"] == f"{dashboard}.activity" and q.get("consumers")
                         for q in made.management.queues(hub)), 15, "the subscriber's queue on the hub")
        subjects = {code: _an_activity_event(servers, envs[code], code) for code in envs}
        subscriber.wait(timeout=20)
    finally:
        if subscriber.poll() is None:
            subscriber.kill()
    out.seek(0)
    printed = [line for line in out.read().splitlines() if not line.startswith("#")]
    assert len(printed) == 2, printed
    for code, subject in subjects.items():
        assert any(code in line and subject in line and "sinergi.activity." in line for line in printed), printed


def _an_activity_event(servers, env: dict[str, str], code: str) -> str:  # noqa: ANN001
    """An activity event of the region: through POST /activities when the service has it, else
    published on the region's exchange by the activities service's own broker user."""
    with _client(env, "activities") as activities:
        created = activities.post("/activities", json={
            "title": f"Sosialisasi Pilkada {code}", "kind": "sosialisasi", "election": "pilkada-2024",
            "method": "langsung", "format": "forum_warga", "segments": ["pemilih_pemula"]})
        if created.status_code not in {404, 405}:  # the endpoint exists: it must work
            assert created.status_code == 201, created.text
            return created.json()["id"]
    now = datetime.now(UTC).isoformat()
    subject = f"act-{code}"
    event = make_event(EventType.ACTIVITY_PLANNED, region=code, service="activities", subject=subject, version=1,
                       data={"id": subject, "version": 1, "created_at": now, "updated_at": now,
                             "title": f"Sosialisasi Pilkada {code}", "kind": "sosialisasi",
                             "election": "pilkada-2024", "region": code, "status": "planned"})
    vhost = env["SINERGI_VHOST"]
    passwords = json.loads((Path(env["SINERGI_HOME"]) / "broker-passwords.json").read_text())
    user = topology.service_user(vhost, "activities")
    url = amqp_url(servers.rabbitmq_url, user, passwords[user], vhost)

    async def publish() -> None:
        connection = await aio_pika.connect(url)
        async with connection:
            channel = await connection.channel(publisher_confirms=True)
            exchange = await channel.get_exchange("sinergi.events", ensure=False)
            await exchange.publish(aio_pika.Message(event.to_wire(), content_type="application/cloudevents+json",
                                                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                                   routing_key=event.routing_key)

    import asyncio

    asyncio.run(publish())
    return subject


def _a_subscriber_that_was_away_gets_a_replay(servers, placed: dict[str, str], file: str, env: dict[str, str],  # noqa: ANN001
                                              since: datetime) -> None:
    """`sinergi events replay` re-publishes the region's partner events since then to the subscriber's queue."""
    vhost = placed["SINERGI_VHOST"]
    user = topology.subscriber_user(vhost)
    password = json.loads((Path(placed["SINERGI_HOME"]) / "broker-passwords.json").read_text())[user]
    url = amqp_url(servers.rabbitmq_url, user, password, vhost)
    queue = f"{user}.replay"

    async def declare() -> None:
        connection = await aio_pika.connect(url)
        async with connection:
            await (await connection.channel()).declare_queue(queue, durable=True)

    async def drain() -> list[dict]:
        connection = await aio_pika.connect(url)
        async with connection:
            declared = await (await connection.channel()).declare_queue(queue, durable=True)
            found = []
            while (message := await declared.get(fail=False)) is not None:
                await message.ack()
                found.append(json.loads(message.body))
            return found

    import asyncio

    asyncio.run(declare())
    replayed = sinergi("events", "replay", queue, "--from", since.isoformat(), "--service", "partners",
                       "--binding", "*.partner.registered", "--region-file", file, env=env)
    assert replayed.returncode == 0, replayed.stderr
    assert "replayed 1 event(s) of partners" in replayed.stderr
    events = asyncio.run(drain())
    assert [(e["type"], e["data"]["name"]) for e in events] == [("sinergi.partner.registered", "KIM Cibeunying")]
