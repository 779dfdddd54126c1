"""`sinergi events ...`: the published event contracts, and replays for subscribers that were away."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from sinergi_cli.regions import ROOT

app = typer.Typer(help="Event contracts (AsyncAPI, JSON Schema) and replays to subscribers.", no_args_is_help=True)
console = Console(stderr=True)


@app.command("docs")
def docs(
    check: Annotated[bool, typer.Option("--check", help="write nothing; fail if the documents differ from the code")] = False,
) -> None:
    """Generate docs/events/: a JSON Schema per event type and each service's AsyncAPI document, from the code.

    Run it after changing an event model, a queue or a binding, and commit the result; the
    test suite fails while the documents and the code disagree.
    """
    from sinergi_cli.ops import asyncapi

    if check:
        stale = asyncapi.drift(ROOT)
        if stale:
            console.print("[red]docs/events/ differs from the code[/red] (run `sinergi events docs`):")
            for path in stale:
                console.print(f"  {path}")
            raise typer.Exit(1)
        console.print("docs/events/ matches the code")
        return
    written = asyncapi.write(ROOT)
    console.print(f"docs/events/: {len(written)} file(s) updated" + "".join(f"\n  {p}" for p in written))


@app.command("replay")
def replay(
    queue: Annotated[str, typer.Argument(help="the subscriber's queue, which receives the events")],
    since: Annotated[datetime, typer.Option("--from", help="start of the period (ISO 8601, with offset)")],
    until: Annotated[datetime | None, typer.Option("--to", help="end of the period, exclusive [default: now]")] = None,
    service: Annotated[str, typer.Option(help="whose events: partners, activities or notifications")] = "activities",
    binding: Annotated[str | None, typer.Option(help="only events whose routing key matches, e.g. '*.activity.*'")] = None,
    url: Annotated[str | None, typer.Option(help="the service's base URL [default: from --region-file or :810x]")] = None,
    region_file: Annotated[Path | None, typer.Option("--region-file", "-r", help="a deploy/regions/<code>.env")] = None,
    token: Annotated[str | None, typer.Option(envvar="SINERGI_TOKEN", help="an admin token [default: minted "
                                                                          "with this instance's secret]")] = None,
) -> None:
    """Re-publish a service's stored events of a period to QUEUE, for a subscriber that was away.

    Calls POST /events/replay on the service (admin). The events go, unchanged and in the
    order they were published, to QUEUE only; the subscriber skips ids it already has.
    """
    import httpx

    from sinergi_cli.local import Instance

    instance = Instance.load(region_file)
    base = url or f"http://127.0.0.1:{instance.ports[service]}"
    if token is None:
        from datetime import timedelta

        from sinergi_cli.calls import minted

        token = minted("admin", instance.region.settings.region, "cli-replay", timedelta(minutes=10),
                       instance.home.path)
    body = {"queue": queue, "from": since.isoformat(), "binding": binding}
    if until is not None:
        body["to"] = until.isoformat()
    with console.status(f"replaying {service} events to {queue} ..."):
        try:
            response = httpx.post(f"{base}/events/replay", json=body, headers={"Authorization": f"Bearer {token}"},
                                  timeout=300)
        except httpx.HTTPError as exc:
            console.print(f"[red]error:[/red] {service} at {base} does not answer: {exc}")
            raise typer.Exit(1) from None
    if response.status_code != 200:
        detail = response.json().get("detail") if response.headers.get("content-type", "").endswith("json") else response.text
        console.print(f"[red]error:[/red] {response.status_code} {detail}")
        raise typer.Exit(1)
    result = response.json()
    console.print(f"replayed {result['replayed']} event(s) of {service} ({result['from']} – {result['to']}) to {queue}")
