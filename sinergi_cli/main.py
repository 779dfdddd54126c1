"""``sinergi``: the operator's command line.

Run ``sinergi --help`` or ``sinergi VERB --help``; each verb says what it does.
"""

from __future__ import annotations

import os
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from shared.serve import APPS, PORTS
from sinergi_cli import activities, broker, districts, dlq, events, gazetteer, local, partners, users

app = typer.Typer(
    help="Sinergi: partner registry, outreach activities and notifications for a KPU region.",
    no_args_is_help=True,
    add_completion=False,
)
infra_app = typer.Typer(help="RabbitMQ and the store alone (what the tests need).", no_args_is_help=True)
seed_app = typer.Typer(help="Load example data into a running instance.", no_args_is_help=True)
app.add_typer(infra_app, name="infra")
app.add_typer(seed_app, name="seed")
app.add_typer(partners.app, name="partners")
app.add_typer(activities.app, name="activities")
app.add_typer(dlq.app, name="dlq")
app.add_typer(broker.app, name="broker")
app.add_typer(events.app, name="events")
app.add_typer(users.app, name="users")
app.add_typer(gazetteer.app, name="gazetteer")
app.add_typer(districts.app, name="districts")

console = Console(stderr=True)


def _say(message: str) -> None:
    console.print(message)


def _fail(exc: Exception) -> None:
    console.print(f"[red]error:[/red] {exc}")
    raise typer.Exit(1)


RegionFiles = Annotated[
    list[Path] | None,
    typer.Option("--region-file", "-r", help="a region from deploy/regions/<code>.env, with its own state "
                 "directory, ports, vhost (a broker user per service) and databases; repeat for several regions "
                 "side by side; the environment wins over the file"),
]
RegionFile = Annotated[
    Path | None,
    typer.Option("--region-file", "-r", help="a region from deploy/regions/<code>.env (the environment wins)"),
]


def _instance(region_file: Path | None) -> local.Instance:
    try:
        return local.Instance.load(region_file)
    except (FileNotFoundError, ValueError) as exc:
        _fail(exc)
        raise


def _instances(region_files: list[Path] | None) -> list[local.Instance]:
    return [_instance(file) for file in region_files] if region_files else [_instance(None)]


@app.command()
def up(
    services: Annotated[list[str] | None, typer.Argument(help="only these services (default: all three)")] = None,
    region_files: RegionFiles = None,
    processes: Annotated[int | None, typer.Option(
        "--processes", min=1, max=64,
        help="processes per service behind its port (SINERGI_PROCESSES; their queues then get a single active "
             "consumer, which migrates them: docs/operations.md, Scaling)")] = None,
    shards: Annotated[int | None, typer.Option(
        "--shards", min=1, max=64,
        help="shards per consumer queue, hashed by aggregate (SINERGI_SHARDS; changing it migrates the "
             "queues' messages: docs/operations.md, Scaling)")] = None,
) -> None:
    """Start whatever of RabbitMQ, the store, the mail catcher, the three services and the console is not running, and wait until ready.

    Without --region-file: the default instance (32.73, ports 8101-8103, state in .sinergi/).
    With it: that region's instance, side by side with others on the same RabbitMQ and store;
    `sinergi up -r deploy/regions/32.73.env -r deploy/regions/33.16.env` starts two regions.
    """
    if processes is not None:  # the environment wins over region files: definitions and services both see it
        os.environ["SINERGI_PROCESSES"] = str(processes)
    if shards is not None:
        os.environ["SINERGI_SHARDS"] = str(shards)
    instances = _instances(region_files)
    try:
        gazetteer.install(say=_say)  # the services need it at start; nothing to do once installed
        with console.status("RabbitMQ and the store ..."):
            local.rabbitmq_up(instances[0].infra_home, _say)
            local.store_up(instances[0].infra_home, _say)
            urls = [local.broker_up(instance, _say) for instance in instances]
        local.console_assets_up(_say)  # htmx for the console, pinned by its package-lock.json
        for instance, broker_urls in zip(instances, urls, strict=True):
            local.mail_up(instance, _say)
            local.chat_up(instance, _say)
            local.services_start(instance, _say, services, broker_urls=broker_urls)
        with console.status("waiting until the services are ready ..."):
            for instance in instances:
                local.services_wait(instance, _say, services)
    except (local.RunnerError, OSError, subprocess.CalledProcessError) as exc:
        _fail(exc)
    from shared.auth import mint

    for instance in instances:
        settings = instance.region.settings
        token = mint(instance.home.secret(), sub="dev-admin", role="admin", regions=[settings.region],
                     ttl=timedelta(days=7))
        ours = local.pid_alive(instance.infra_home.pidfile("store"))
        where = f"the store's files in {instance.infra_home.path / 'data'}/" if ours else "the store on :27017"
        console.print(f"\nregion {instance.label}   logs: {instance.home.logs}/   "
                      f"databases: {settings.db_prefix}* ({where})")
        console.print(f"e-mails: {local.mail_where(instance)}")
        console.print(f"chat (WhatsApp, Telegram): {local.chat_where(instance)}")
        _console_login(instance)
        console.print(f"admin token for {settings.region} (7 days; `sinergi token --help` for others):")
        print(token)


def _console_login(instance: local.Instance) -> None:
    """Make the console's first admin if it has no user yet, and say how to sign in."""
    if "console" not in instance.ports:
        return
    url = f"http://127.0.0.1:{instance.ports['console']}"
    try:
        email, password = users.first_admin(instance)
    except Exception as exc:  # noqa: BLE001 - the services run; only the console's account is missing
        console.print(f"console: {url} (no first admin made: {exc})")
        return
    secret = f"password {password}" if password else "the password you set"
    console.print(f"console: {url}  sign in as {email} with {secret} "
                  "(`sinergi users add` for others; docs/console.md)")


@app.command()
def down(
    keep_infra: Annotated[bool, typer.Option(help="leave RabbitMQ and the store running")] = False,
    region_files: RegionFiles = None,
) -> None:
    """Stop what `sinergi up` started: the services and the mail catcher, then the store and RabbitMQ.

    With --region-file only those regions' services and mail catchers stop: RabbitMQ and the
    store are shared by the regions of the host (`sinergi infra down` stops them).
    """
    for instance in _instances(region_files):
        local.stop_all(instance.home, [*reversed(APPS), "mail", "chat"], _say)
        if not keep_infra and not instance.is_region:
            local.stop(instance.home, "store", _say)
            local.rabbitmq_down(instance.home, _say)


@app.command()
def status(region_files: RegionFiles = None) -> None:
    """Show RabbitMQ, the store, the three services and the mail catcher (where to read the e-mails)."""
    for instance in _instances(region_files):
        table = Table("part", "state", "where", title=f"Sinergi {instance.label}")
        for name, state, where in local.status(instance):
            colour = "green" if state in {"up", "ready"} else "yellow" if state in {"starting", "absent"} else "red"
            table.add_row(name, f"[{colour}]{state}[/{colour}]", where)
        local.table_console().print(table)


@app.command()
def token(
    role: Annotated[str, typer.Option(help="admin, operator or viewer")] = "operator",
    region: Annotated[list[str] | None, typer.Option(help="region code(s) the token covers, or '*'")] = None,
    sub: Annotated[str, typer.Option(help="who the token is for")] = "cli",
    name: Annotated[str | None, typer.Option(help="their display name, shown in the audit trail")] = None,
    hours: Annotated[float, typer.Option(help="validity")] = 12.0,
    region_file: RegionFile = None,
) -> None:
    """Print an API token signed with this instance's secret (SINERGI_AUTH_SECRET, else the dev runner's)."""
    from shared.auth import mint

    instance = _instance(region_file)
    secret = os.environ.get("SINERGI_AUTH_SECRET") or instance.home.secret()
    try:
        print(mint(secret, sub=sub, role=role, regions=region or [instance.region.settings.region],
                   ttl=timedelta(hours=hours), name=name))
    except ValueError as exc:
        _fail(exc)


@app.command()
def serve(service: Annotated[str, typer.Argument(help="partners, activities, notifications or console")]) -> None:
    """Run one service (or the console) in the foreground (what `up` runs in the background)."""
    if service not in APPS:
        _fail(ValueError(f"unknown service {service!r}; one of {', '.join(APPS)}"))
    import importlib

    from shared.serve import serve as run

    run(service, importlib.import_module(f"services.{service}.main").build)


@infra_app.command("up")
def infra_up() -> None:
    """Start RabbitMQ and the store if they are not running, and print their URLs as `export` lines.

    `eval "$(sinergi infra up)"` then sets them for the commands that follow (the tests read them).
    """
    home = local.Home.default()
    try:
        gazetteer.install(say=_say)  # services the tests start read it
        local.rabbitmq_up(home, _say)
        local.store_up(home, _say)
        # What the console's tests need too: its npm assets and a browser.
        local.console_assets_up(_say)
        local.chromium_up(_say)
    except (local.RunnerError, OSError, subprocess.CalledProcessError) as exc:
        _fail(exc)
    # `export`: evaluated without it, the lines set shell variables the tests' processes never see.
    print("export SINERGI_RABBITMQ_URL=amqp://guest:guest@127.0.0.1:5672/")
    print("export SINERGI_MONGODB_URL=mongodb://127.0.0.1:27017/")


@infra_app.command("console")
def infra_console() -> None:
    """Install the console's browser assets (npm ci) and, for its browser tests, Debian's Chromium."""
    try:
        local.console_assets_up(_say)
        local.chromium_up(_say)
    except (local.RunnerError, OSError, subprocess.CalledProcessError) as exc:
        _fail(exc)


@infra_app.command("down")
def infra_down() -> None:
    """Stop the store and RabbitMQ if `sinergi up` or `sinergi infra up` started them."""
    home = local.Home.default()
    local.stop(home, "store", _say)
    local.rabbitmq_down(home, _say)


@seed_app.command("demo")
def seed_demo(
    partners_url: Annotated[str, typer.Option(help="partners service")] = f"http://127.0.0.1:{PORTS['partners']}",
    activities_url: Annotated[str, typer.Option(help="activities service")] = f"http://127.0.0.1:{PORTS['activities']}",
    notifications_url: Annotated[str, typer.Option(help="notifications service")]
    = f"http://127.0.0.1:{PORTS['notifications']}",
    mail_url: Annotated[str, typer.Option(help="the mail catcher's pages, where a partner contact opens an invitation "
                                               "to answer it ('' for none)")] = "http://127.0.0.1:8025",
) -> None:
    """Load the Kota Bandung (32.73) demo region into a running instance, through the HTTP APIs; then a
    partner contact answers an invitation caught by the mail catcher."""
    from sinergi_cli.demo.seed import load

    try:
        load(console, partners_url=partners_url, activities_url=activities_url, notifications_url=notifications_url,
             mail_url=mail_url or None)
    except Exception as exc:  # noqa: BLE001 - shown to the operator as it is
        _fail(exc)


if __name__ == "__main__":
    app()
