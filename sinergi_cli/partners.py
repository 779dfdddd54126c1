"""`sinergi partners ...`: operator verbs of the partners service.

``import`` reads the spreadsheet here, then sends it to ``POST /partners/import`` in chunks of
rows, each carrying the rows' numbers in the original file, so the bar moves as rows are
stored and every error names a row the operator can find. A chunk that fails in transit is
sent again with the same ``Idempotency-Key``: it is never applied twice.
"""

from __future__ import annotations

import csv
import secrets
import time
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)
from rich.table import Table

from sinergi_cli.calls import attachment_name, default_url, minted, problem, speaking, spreadsheet_format, words

app = typer.Typer(help="The partners service: import and export the registry as a spreadsheet.",
                  no_args_is_help=True)
console = Console(stderr=True)

SHOWN_ERRORS = 30
ATTEMPTS = 3
MAX_ERRORS = 10_000  # the most POST /partners/import answers with; a chunk is at most 2,000 rows

Url = Annotated[str, typer.Option(help="the partners service", envvar="SINERGI_PARTNERS_URL")]
Token = Annotated[str | None, typer.Option(
    help="API token (default: one minted with SINERGI_AUTH_SECRET or the dev runner's secret)",
    envvar="SINERGI_TOKEN")]
Region = Annotated[str, typer.Option(help="region the minted token covers", envvar="SINERGI_REGION")]


def _token(region: str, role: str) -> str:
    return minted(role, region, f"cli-partners-{role}", timedelta(hours=1))


def _fail(message: str) -> None:
    console.print(f"[red]{words('error')}:[/red] {message}")
    raise typer.Exit(1)


@app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(help="a .xlsx or .csv file, one partner per row", exists=True,
                                         dir_okay=False, readable=True)],
    batch: Annotated[int, typer.Option(min=1, max=2000, help="rows per request")] = 100,
    errors_file: Annotated[Path | None, typer.Option("--errors-file", help="also write every row error to this CSV")]
    = None,
    url: Url = default_url("partners"),
    token: Token = None,
    region: Region = "32.73",
) -> None:
    """Add or update partners from a spreadsheet: upsert by name, a report of every bad row.

    Headers may be Indonesian or English (nama/name, jenis/type, segmen/segments, kecamatan/district,
    kontak1_telepon/contact1_phone, ...). A bad row never stops the good ones; importing the same
    file again changes nothing. Exit status 1 when a row was refused.
    """
    from services.partners import spreadsheet

    try:
        table = spreadsheet.read_table(file.read_bytes())
    except spreadsheet.Unreadable as exc:
        _fail(f"{file}: {exc}")
        return
    if not table.rows:
        _fail(words(f"{file}: no rows below the header (row {table.header_number})"))
    totals: dict[str, Any] = {"created": 0, "updated": 0, "unchanged": 0, "errors": [], "ignored_columns": []}
    run = secrets.token_hex(8)
    # One batch for the whole file, however many chunks carry it: notifications sums up its new
    # partners in one message per person, not one per chunk.
    label = file.name.replace('"', "").replace(";", ",")
    headers = speaking({"Authorization": f"Bearer {token or _token(region, 'operator')}",
                        "X-Sinergi-Batch": f"import-{run}; label={label}"})
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn(words("rows")), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console) as progress, \
            httpx.Client(base_url=url, headers=headers, timeout=httpx.Timeout(10.0, read=600.0)) as client:
        task = progress.add_task(words(f"importing {file.name}"), total=len(table.rows))
        for index in range(0, len(table.rows), batch):
            chunk = table.rows[index:index + batch]
            report = _send(client, file.name, spreadsheet.table_csv(table.header, chunk), f"{run}-{index}")
            for key in ("created", "updated", "unchanged"):
                totals[key] += report[key]
            totals["errors"] += report["errors"]
            totals["ignored_columns"] = report["ignored_columns"]
            progress.update(task, advance=len(chunk))
    _summarise(file, totals, errors_file)
    if totals["errors"]:
        raise typer.Exit(1)


def _send(client: httpx.Client, name: str, content: bytes, key: str) -> dict[str, Any]:
    for attempt in range(1, ATTEMPTS + 1):
        try:
            # Every row error of the chunk, not the service's default first 100: the operator fixes them all.
            response = client.post("/partners/import", files={"file": (name, content, "text/csv")},
                                   params={"max_errors": MAX_ERRORS}, headers={"Idempotency-Key": key})
        except httpx.TransportError as exc:
            if attempt == ATTEMPTS:
                _fail(words(f"cannot reach the partners service at {client.base_url} ({exc.__class__.__name__}); "
                            "is it running? (`sinergi status`, `sinergi up`)"))
            time.sleep(attempt)
            continue
        if response.status_code >= 500 and attempt < ATTEMPTS:
            time.sleep(attempt)
            continue
        if response.status_code != 200:
            _fail(problem(response))
        return response.json()
    raise AssertionError("unreachable")


def _summarise(file: Path, totals: dict[str, Any], errors_file: Path | None) -> None:
    refused = len({e["row"] for e in totals["errors"]})
    console.print(words(f"{file.name}: {totals['created']:,} created, {totals['updated']:,} updated, "
                        f"{totals['unchanged']:,} unchanged, {refused:,} row(s) refused"))
    if totals["ignored_columns"]:
        console.print(f"[yellow]{words('columns not read')}:[/yellow] {', '.join(totals['ignored_columns'])}")
    errors = totals["errors"]
    if errors:
        table = Table(words("row"), words("column"), words("problem"),
                      title=words("refused rows (nothing of them was stored)"))
        for error in errors[:SHOWN_ERRORS]:
            table.add_row(str(error["row"]), error["field"], error["message"])
        console.print(table)
        if len(errors) > SHOWN_ERRORS and errors_file is None:
            console.print(words(f"... and {len(errors) - SHOWN_ERRORS} more; --errors-file FILE writes them all"))
    if errors_file is not None:
        with errors_file.open("w", newline="", encoding="utf-8-sig") as out:
            writer = csv.writer(out)
            writer.writerow(["baris", "kolom", "masalah"])
            writer.writerows([e["row"], e["field"], e["message"]] for e in errors)
        console.print(words(f"wrote {len(errors)} error(s) to {errors_file}"))


@app.command("export")
def export(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="file to write [default: the service's name]")]
    = None,
    fmt: Annotated[str | None, typer.Option("--format", help="xlsx or csv [default: from the file name, else xlsx]")]
    = None,
    lang: Annotated[str, typer.Option(help="column headers: id (Indonesian) or en")] = "id",
    url: Url = default_url("partners"),
    token: Token = None,
    region: Region = "32.73",
) -> None:
    """Write the registry to a spreadsheet that `sinergi partners import` reads back unchanged."""
    try:
        chosen = spreadsheet_format(fmt, output)
    except ValueError as exc:
        _fail(str(exc))
        return
    headers = speaking({"Authorization": f"Bearer {token or _token(region, 'viewer')}"})
    with console.status(words("exporting the registry ...")):
        try:
            response = httpx.get(f"{url}/partners/export", params={"format": chosen, "lang": lang}, headers=headers,
                                 timeout=httpx.Timeout(10.0, read=600.0))
        except httpx.HTTPError as exc:
            _fail(words(f"cannot reach the partners service at {url} ({exc.__class__.__name__}); is it running? "
                        "(`sinergi status`, `sinergi up`)"))
            return
    if response.status_code != 200:
        _fail(problem(response))
    target = output or Path(attachment_name(response, f"mitra.{chosen}"))
    target.write_bytes(response.content)
    console.print(words(f"wrote {target} ({len(response.content):,} bytes)"))
