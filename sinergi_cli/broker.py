"""`sinergi broker ...`: a region's RabbitMQ definitions, applied to a running broker.

(Over 400 lines: the management API client and every verb on it, read together.)

The definitions (vhost, exchanges, each service's queues with their retry and dead-letter
queues, a user per service with least-privilege permissions, a read-only subscriber) are
generated from the code's topology by :mod:`sinergi_cli.ops.topology`. They are applied through the
management HTTP API (``POST /api/definitions``); ``rabbitmqctl import_definitions FILE``
imports the same file.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlparse

import httpx
import typer
from rich.console import Console

from shared.serve import PORTS
from sinergi_cli.regions import ROOT, Region, amqp_url

app = typer.Typer(
    help="RabbitMQ for a region: generate its definitions, apply them, add subscribers and shovels.",
    no_args_is_help=True,
)
console = Console(stderr=True)
DEFINITIONS_DIR = ROOT / "deploy" / "rabbitmq"

RegionFile = Annotated[
    Path | None, typer.Option("--region-file", "-r", help="a deploy/regions/<code>.env file (environment wins)")
]
ManagementUrl = Annotated[
    str | None,
    typer.Option(help="management API with an administrator's credentials "
                      "[default: SINERGI_RABBITMQ_MANAGEMENT_URL or http://guest:guest@127.0.0.1:15672]"),
]


class ManagementError(Exception):
    """The management API refused or could not be reached; the message says which and why."""


class Management:
    """A small client of RabbitMQ's management HTTP API (``http://user:password@host:15672``)."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        parsed = urlparse(url)
        # Also the credentials of the AMQP connection that moves messages (``sinergi broker migrate``).
        self.user, self.password = parsed.username or "guest", parsed.password or "guest"
        self.base = f"{parsed.scheme}://{parsed.hostname}:{parsed.port or 15672}{parsed.path.rstrip('/')}/api"
        self.client = httpx.Client(auth=(parsed.username or "guest", parsed.password or "guest"), timeout=timeout)

    def __enter__(self) -> Management:
        return self

    def __exit__(self, *_: object) -> None:
        self.client.close()

    def call(self, method: str, path: str, body: Any = None, ok_missing: bool = False) -> Any:
        try:
            response = self.client.request(method, self.base + path, json=body)
        except httpx.HTTPError as exc:
            raise ManagementError(f"the RabbitMQ management API at {self.base} does not answer ({exc}); "
                                  "enable it with: rabbitmq-plugins enable rabbitmq_management") from exc
        if ok_missing and response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise ManagementError(f"{method} {path}: {response.status_code} {response.text[:500]}")
        return response.json() if response.content else None

    def answers(self) -> bool:
        try:
            self.call("GET", "/overview")
            return True
        except ManagementError:
            return False

    # definitions, vhosts, users, permissions
    def import_definitions(self, definitions: dict[str, Any]) -> None:
        self.call("POST", "/definitions", definitions)

    def add_vhost(self, vhost: str, description: str = "") -> None:
        self.call("PUT", f"/vhosts/{_q(vhost)}", {"description": description})

    def delete_vhost(self, vhost: str) -> None:
        self.call("DELETE", f"/vhosts/{_q(vhost)}", ok_missing=True)

    def add_user(self, user: str, password: str, tags: str = "") -> None:
        self.call("PUT", f"/users/{_q(user)}", {"password": password, "tags": tags})

    def delete_user(self, user: str) -> None:
        self.call("DELETE", f"/users/{_q(user)}", ok_missing=True)

    def set_permissions(self, user: str, vhost: str, configure: str, write: str, read: str) -> None:
        self.call("PUT", f"/permissions/{_q(vhost)}/{_q(user)}", {"configure": configure, "write": write, "read": read})

    def set_topic_permissions(self, user: str, vhost: str, exchange: str, write: str, read: str) -> None:
        self.call("PUT", f"/topic-permissions/{_q(vhost)}/{_q(user)}", {"exchange": exchange, "write": write, "read": read})

    # exchanges, queues, bindings
    def declare_exchange(self, vhost: str, name: str, kind: str = "topic", arguments: dict[str, Any] | None = None) -> None:
        self.call("PUT", f"/exchanges/{_q(vhost)}/{_q(name)}",
                  {"type": kind, "durable": True, "auto_delete": False, "arguments": arguments or {}})

    def declare_queue(self, vhost: str, name: str, arguments: dict[str, Any] | None = None) -> None:
        self.call("PUT", f"/queues/{_q(vhost)}/{_q(name)}",
                  {"durable": True, "auto_delete": False, "arguments": {"x-queue-type": "classic", **(arguments or {})}})

    def bind(self, vhost: str, exchange: str, queue: str, routing_key: str) -> None:
        self.call("POST", f"/bindings/{_q(vhost)}/e/{_q(exchange)}/q/{_q(queue)}", {"routing_key": routing_key})

    def queues(self, vhost: str) -> list[dict[str, Any]]:
        return self.call("GET", f"/queues/{_q(vhost)}?columns=name,messages,consumers") or []

    def queues_of(self, vhost: str) -> list[dict[str, Any]]:
        """The vhost's queues with their type (classic, quorum) and consumers; none while the vhost
        does not exist yet (a region's first ``sinergi up``: nothing to migrate)."""
        return self.call("GET", f"/queues/{_q(vhost)}?columns=name,type,messages,consumers,arguments",
                         ok_missing=True) or []

    def delete_queue(self, vhost: str, name: str) -> None:
        self.call("DELETE", f"/queues/{_q(vhost)}/{_q(name)}", ok_missing=True)

    def exchanges_of(self, vhost: str) -> list[dict[str, Any]]:
        return self.call("GET", f"/exchanges/{_q(vhost)}?columns=name,type", ok_missing=True) or []

    def delete_exchange(self, vhost: str, name: str) -> None:
        self.call("DELETE", f"/exchanges/{_q(vhost)}/{_q(name)}", ok_missing=True)

    # shovels
    def set_shovel(self, vhost: str, name: str, value: dict[str, Any]) -> None:
        self.call("PUT", f"/parameters/shovel/{_q(vhost)}/{_q(name)}", {"value": value})

    def delete_shovel(self, vhost: str, name: str) -> None:
        self.call("DELETE", f"/parameters/shovel/{_q(vhost)}/{_q(name)}", ok_missing=True)

    def shovels(self, vhost: str) -> list[dict[str, Any]]:
        return self.call("GET", f"/shovels/{_q(vhost)}", ok_missing=True) or []


def _q(part: str) -> str:
    return quote(part, safe="")


# --- passwords ---------------------------------------------------------------------------------


def password_env(user_role: str) -> str:
    """``partners`` → ``SINERGI_BROKER_PASSWORD_PARTNERS`` (roles: the services and ``subscriber``)."""
    return f"SINERGI_BROKER_PASSWORD_{user_role.upper()}"


def region_passwords(region: Region, store: Path | None) -> dict[str, str]:
    """A password for each of the region's broker users: from ``SINERGI_BROKER_PASSWORD_<ROLE>``,
    else from ``store`` (a JSON file kept 0600), else new and written there."""
    from sinergi_cli.ops import topology

    vhost = region.vhost
    roles = {topology.service_user(vhost, s): s for s in PORTS}
    roles[topology.subscriber_user(vhost)] = "subscriber"
    kept: dict[str, str] = json.loads(store.read_text()) if store and store.exists() else {}
    passwords: dict[str, str] = {}
    for user, role in roles.items():
        passwords[user] = region.get(password_env(role).removeprefix("SINERGI_")) or kept.get(user) or secrets.token_urlsafe(24)
    if store is not None and passwords != kept:
        store.parent.mkdir(parents=True, exist_ok=True)
        store.write_text(json.dumps(passwords, indent=2))
        store.chmod(0o600)
    return passwords


# --- what the verbs do -------------------------------------------------------------------------


def region_definitions(region: Region, passwords: dict[str, str] | None = None) -> dict[str, Any]:
    from sinergi_cli.ops import topology

    return topology.definitions(region.settings, region.vhost, passwords)


def apply(region: Region, management: Management, passwords: dict[str, str]) -> dict[str, str]:
    """Import the region's definitions; returns each service's AMQP URL (with its own user). Classic
    queues the code now declares as quorum queues are migrated first (:mod:`sinergi_cli.ops.migrate`)."""
    from sinergi_cli.ops import migrate, topology

    migrate.migrate(management, region.vhost, region_definitions(region, passwords),
                    region.amqp_url(management.user, management.password), console.print)
    return {service: region.amqp_url(topology.service_user(region.vhost, service),
                                     passwords[topology.service_user(region.vhost, service)])
            for service in PORTS}


def add_subscriber(management: Management, region: Region, user: str, password: str, vhost: str | None = None) -> None:
    """A read-only subscriber on ``vhost``: binds and consumes its own queues ``<user>.*``."""
    from sinergi_cli.ops import topology

    vhost = vhost or region.vhost
    settings = region.settings
    management.add_user(user, password)
    management.set_permissions(user, vhost, **topology.subscriber_permissions(settings, user))
    management.set_topic_permissions(user, vhost, **topology.subscriber_topic_permissions(settings))


def add_shovel(
    management: Management, region: Region, name: str, source_vhost: str, hub_vhost: str, binding: str, password: str,
) -> None:
    """Forward ``binding`` events of ``source_vhost``'s ``sinergi.events`` to ``hub_vhost``'s.

    The shovel reads as ``name``, a subscriber on the source (its own durable queue
    ``<name>.events`` keeps what arrives while the hub is away) that may only publish to the
    hub's ``sinergi.events``.
    """
    settings = region.settings
    exchange = settings.exchange_name
    management.add_vhost(hub_vhost, "Sinergi events of several regions")
    management.declare_exchange(hub_vhost, exchange, "topic")
    add_subscriber(management, region, name, password, vhost=source_vhost)
    management.set_permissions(name, hub_vhost, configure="^$", write=f"^{re.escape(exchange)}$", read="^$")
    queue = f"{name}.events"
    management.declare_queue(source_vhost, queue)
    management.bind(source_vhost, exchange, queue, binding)
    value = {
        "src-protocol": "amqp091",
        "src-uri": amqp_url(settings.rabbitmq_url, name, password, source_vhost),
        "src-queue": queue,
        "dest-protocol": "amqp091",
        "dest-uri": amqp_url(settings.rabbitmq_url, name, password, hub_vhost),
        "dest-exchange": exchange,
        "ack-mode": "on-confirm",
        "reconnect-delay": 2,
    }
    try:
        management.set_shovel(hub_vhost, name, value)
    except ManagementError as exc:
        if "shovel" in str(exc) and "component" in str(exc):
            raise ManagementError(f"{exc}\nthe shovel plugin is not enabled: "
                                  "rabbitmq-plugins enable rabbitmq_shovel rabbitmq_shovel_management") from exc
        raise


def _management(region: Region, url: str | None) -> Management:
    return Management(url or region.management_url)


def _fail(exc: Exception) -> None:
    console.print(f"[red]error:[/red] {exc}")
    raise typer.Exit(1)


# --- verbs -------------------------------------------------------------------------------------


def example_definitions() -> dict[Path, str]:
    """deploy/rabbitmq/<code>.json for each region file in deploy/regions/ (the environment ignored)."""
    return {DEFINITIONS_DIR / f"{region.settings.region}.json": _json(region_definitions(region))
            for region in Region.examples()}


def _json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2) + "\n"


@app.command("definitions")
def definitions_verb(
    region_file: RegionFile = None,
    vhost: Annotated[str | None, typer.Option(help="vhost [default: SINERGI_VHOST or the URL's]")] = None,
    out: Annotated[Path | None, typer.Option(help="write to this file instead of standard output")] = None,
    examples: Annotated[bool, typer.Option("--examples", help="(re)write deploy/rabbitmq/<code>.json for every "
                                                                "deploy/regions/<code>.env")] = False,
) -> None:
    """Print the region's RabbitMQ definitions, generated from the code (users without passwords).

    Import them with `rabbitmqctl import_definitions FILE` and then set the users' passwords
    (`rabbitmqctl change_password`), or let `sinergi broker apply` do both.
    """
    if examples:
        for path, text in example_definitions().items():
            path.write_text(text)
            console.print(f"wrote {path.relative_to(ROOT)}")
        return
    region = _region(region_file, vhost)
    text = _json(region_definitions(region))
    if out:
        out.write_text(text)
        console.print(f"wrote {out}")
    else:
        print(text, end="")


@app.command("apply")
def apply_verb(
    region_file: RegionFile = None,
    vhost: Annotated[str | None, typer.Option(help="vhost [default: SINERGI_VHOST or the URL's]")] = None,
    management_url: ManagementUrl = None,
    passwords_file: Annotated[Path | None, typer.Option(
        help="where generated passwords are kept (0600) [default: <SINERGI_HOME>/broker-passwords.json]")] = None,
    show_passwords: Annotated[bool, typer.Option(help="print the URLs with their passwords (not for logs)")] = False,
) -> None:
    """Apply the region's definitions to a running broker, through the management API.

    Each user's password comes from SINERGI_BROKER_PASSWORD_<PARTNERS|ACTIVITIES|NOTIFICATIONS|SUBSCRIBER>,
    else from the passwords file, else is generated and kept there. Prints each service's
    SINERGI_RABBITMQ_URL (passwords masked unless --show-passwords). Applying again changes
    nothing that is already right; run it after every upgrade (new queues, new permissions).
    """
    region = _region(region_file, vhost)
    store = passwords_file or _default_passwords_file(region)
    try:
        with _management(region, management_url) as management:
            urls = apply(region, management, region_passwords(region, store))
    except (ManagementError, OSError) as exc:
        _fail(exc)
    console.print(f"applied the definitions of region {region.settings.region} to vhost {region.vhost}")
    for service, url in urls.items():
        if not show_passwords:
            url = _masked(url)
        print(f"SINERGI_RABBITMQ_URL_{service.upper()}={url}")


def _masked(url: str) -> str:
    parsed = urlparse(url)
    return url.replace(f":{parsed.password}@", ":***@", 1) if parsed.password else url


@app.command("migrate")
def migrate_verb(
    region_file: RegionFile = None,
    vhost: Annotated[str | None, typer.Option(help="vhost [default: SINERGI_VHOST or the URL's]")] = None,
    management_url: ManagementUrl = None,
    passwords_file: Annotated[Path | None, typer.Option(
        help="where generated passwords are kept (0600) [default: <SINERGI_HOME>/broker-passwords.json]")] = None,
) -> None:
    """Turn the region's classic queues into the quorum queues the code declares, keeping their messages.

    Stop the region's services first (a queue with consumers is refused). Each classic queue is
    emptied, in order and with confirms, into a holding quorum queue <queue>.migrating, deleted,
    declared again as a quorum queue with its bindings (the definitions are applied), and refilled.
    Idempotent: run it again after an interruption and it finishes the job; on quorum queues it
    only applies the definitions. `sinergi broker apply` (and `sinergi up`) run it too.
    """
    from sinergi_cli.ops import migrate

    region = _region(region_file, vhost)
    store = passwords_file or _default_passwords_file(region)
    try:
        with _management(region, management_url) as management:
            moved = migrate.migrate(management, region.vhost,
                                    region_definitions(region, region_passwords(region, store)),
                                    region.amqp_url(management.user, management.password), console.print)
    except (ManagementError, migrate.MigrationRefused, OSError) as exc:
        _fail(exc)
    console.print(f"vhost {region.vhost}: every queue as the code declares it "
                  f"({len(moved)} migrated, {sum(moved.values())} messages moved)")


@app.command("subscriber")
def subscriber_verb(
    name: Annotated[str, typer.Argument(help="the subscriber's user name; its queues must be named <name>.*")],
    region_file: RegionFile = None,
    vhost: Annotated[str | None, typer.Option(help="vhost [default: SINERGI_VHOST or the URL's]")] = None,
    password: Annotated[str | None, typer.Option(help="[default: generated and printed]")] = None,
    management_url: ManagementUrl = None,
) -> None:
    """Add a read-only subscriber: it may bind its own queues (<name>.*) to sinergi.events and consume them; it cannot publish."""
    region = _region(region_file, vhost)
    password = password or secrets.token_urlsafe(24)
    try:
        with _management(region, management_url) as management:
            add_subscriber(management, region, name, password)
    except ManagementError as exc:
        _fail(exc)
    console.print(f"subscriber {name} on vhost {region.vhost}; name its queues {name}.<anything>")
    print(region.amqp_url(name, password))


@app.command("shovel")
def shovel_verb(
    name: Annotated[str, typer.Argument(help="the shovel's name, also its user on both vhosts")],
    from_vhost: Annotated[str, typer.Option(help="the region's vhost the events come from")],
    to_vhost: Annotated[str, typer.Option(help="the hub vhost (created if missing) the events go to")],
    binding: Annotated[str, typer.Option(help="which events, as a topic binding key")] = "*.activity.*",
    region_file: RegionFile = None,
    password: Annotated[str | None, typer.Option(help="the shovel user's password [default: generated]")] = None,
    management_url: ManagementUrl = None,
) -> None:
    """Forward a region's events to a hub vhost with a RabbitMQ shovel, for provincial or national subscribers.

    Run it once per region; subscribers then bind on the hub's sinergi.events. Events that
    arrive while the hub is away wait in the shovel's durable queue <name>.events.
    """
    region = _region(region_file, None)
    try:
        with _management(region, management_url) as management:
            add_shovel(management, region, name, from_vhost, to_vhost, binding, password or secrets.token_urlsafe(24))
    except ManagementError as exc:
        _fail(exc)
    console.print(f"shovel {name}: {from_vhost} {binding} → {to_vhost} (status: rabbitmqctl shovel_status)")


def _region(region_file: Path | None, vhost: str | None) -> Region:
    try:
        region = Region.load(region_file)
    except (FileNotFoundError, ValueError) as exc:
        _fail(exc)
        raise  # unreachable; for the type checker
    if vhost:
        region.env["SINERGI_VHOST"] = vhost
    return region


def _default_passwords_file(region: Region) -> Path:
    home = region.home or Path(os.environ.get("SINERGI_HOME", ROOT / ".sinergi"))
    return home / "broker-passwords.json"
