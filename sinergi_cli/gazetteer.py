"""``sinergi gazetteer install``: the Kemendagri gazetteer from its npm package, pinned and checked.

The pinned tarball of ``idn-area-data`` (``shared.gazetteer``: version and sha512 integrity) is
fetched with ``npm pack`` when npm is there (it honours the machine's npm registry and proxy),
else straight from registry.npmjs.org, or read from ``--tarball`` (an offline copy); a tarball
whose digest differs from the pin is refused. Its CSVs become one JSON index per province in the
gazetteer directory, written beside it and renamed into place, so a reader never sees half an
index. Installing again when the pinned version is there does nothing (``make venv`` calls it on
every run).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
import tempfile
import urllib.request
from collections import defaultdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from shared import gazetteer

app = typer.Typer(help="The Kemendagri gazetteer (kecamatan and desa/kelurahan names and codes).",
                  no_args_is_help=True)
console = Console(stderr=True)
FILES = ("provinces", "regencies", "districts", "villages")
DONE = "SOURCE.json"  # written last: its presence means the index is whole


class InstallError(OSError):  # an OSError: the runner reports it like any set-up failure
    pass


def installed(where: Path) -> bool:
    return (gazetteer.index_dir(where) / DONE).is_file()


def install(where: Path | None = None, tarball: Path | None = None, force: bool = False,
            say=lambda message: None) -> Path:  # noqa: ANN001 - a printer
    """Install the pinned gazetteer into ``where`` (the settings' directory by default); returns the index dir."""
    where = where or gazetteer.directory()
    target = gazetteer.index_dir(where)
    if installed(where) and not force:
        return target
    data = tarball.read_bytes() if tarball else _fetch(say)
    _check(data)
    rows = _rows(data)
    where.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=where))
    partial.chmod(0o755)  # mkdtemp's 0700 would hide it from a service running as another user (the image)
    try:
        count = _write(partial, rows, _licence(data))
        if target.exists():
            shutil.rmtree(target)
        partial.rename(target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    say(f"gazetteer: {gazetteer.PACKAGE} {gazetteer.VERSION} ({count} provinces, "
        f"{len(rows['districts'])} kecamatan, {len(rows['villages'])} desa/kelurahan) in {target}")
    return target


def _fetch(say) -> bytes:  # noqa: ANN001
    spec = f"{gazetteer.PACKAGE}@{gazetteer.VERSION}"
    npm = shutil.which("npm")
    if npm:
        with tempfile.TemporaryDirectory() as scratch:
            say(f"gazetteer: npm pack {spec}")
            done = subprocess.run([npm, "pack", spec, "--pack-destination", scratch, "--silent"],
                                  capture_output=True, text=True, timeout=300, check=False)
            packed = list(Path(scratch).glob("*.tgz"))
            if done.returncode == 0 and packed:
                return packed[0].read_bytes()
            say(f"gazetteer: npm pack failed ({done.stderr.strip()[:300]}); fetching {gazetteer.TARBALL}")
    try:
        with urllib.request.urlopen(gazetteer.TARBALL, timeout=120) as response:  # noqa: S310 - a pinned https URL
            return response.read()
    except OSError as exc:
        raise InstallError(f"cannot fetch {gazetteer.TARBALL}: {exc}; on a machine without the npm registry, "
                           f"copy the tarball here and run `{gazetteer.INSTALL} --tarball FILE`") from exc


def _check(data: bytes) -> None:
    algorithm, _, expected = gazetteer.INTEGRITY.partition("-")
    found = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    if found != expected:
        raise InstallError(f"{gazetteer.PACKAGE} {gazetteer.VERSION}: the tarball's {algorithm} is {found}, "
                           f"not the pinned {expected}; refusing it")


def _rows(data: bytes) -> dict[str, list[tuple[str, str]]]:
    rows: dict[str, list[tuple[str, str]]] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for name in FILES:
            member = tar.extractfile(f"package/data/{name}.csv")
            if member is None:
                raise InstallError(f"{gazetteer.PACKAGE} {gazetteer.VERSION} has no data/{name}.csv")
            reader = csv.DictReader(io.TextIOWrapper(member, encoding="utf-8"))
            rows[name] = [(row["code"].strip(), " ".join(row["name"].split())) for row in reader]
    return rows


def _licence(data: bytes) -> str:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        member = tar.extractfile("package/data/LICENSE.md")
        return member.read().decode("utf-8") if member else ""


def _write(into: Path, rows: dict[str, list[tuple[str, str]]], licence: str) -> int:
    by_province: dict[str, dict[str, list[tuple[str, str]]]] = defaultdict(lambda: defaultdict(list))
    for level in ("regencies", "districts", "villages"):
        for code, name in rows[level]:
            by_province[code[:2]][level].append((code, name))
    provinces = dict(rows["provinces"])
    for province, levels in by_province.items():
        index = {"package": gazetteer.PACKAGE, "version": gazetteer.VERSION,
                 "province": {"code": province, "name": provinces.get(province, province)},
                 **{level: levels.get(level, []) for level in ("regencies", "districts", "villages")}}
        (into / f"{province}.json").write_text(json.dumps(index, ensure_ascii=False, separators=(",", ":")),
                                               encoding="utf-8")
    (into / "LICENSE-DATA.md").write_text(licence, encoding="utf-8")
    (into / DONE).write_text(json.dumps({"package": gazetteer.PACKAGE, "version": gazetteer.VERSION,
                                         "integrity": gazetteer.INTEGRITY, "tarball": gazetteer.TARBALL,
                                         "credit": gazetteer.CREDIT}, indent=2), encoding="utf-8")
    return len(by_province)


@app.command("install")
def install_command(
    directory: Annotated[Path | None, typer.Option("--dir", help="where to put it (default: SINERGI_GAZETTEER_DIR, "
                                                   "else the virtual environment's share/sinergi/gazetteer)")] = None,
    tarball: Annotated[Path | None, typer.Option(help="an offline copy of the pinned npm tarball")] = None,
    force: Annotated[bool, typer.Option(help="install again even when the pinned version is there")] = False,
    quiet: Annotated[bool, typer.Option(help="say nothing when it is already installed")] = False,
) -> None:
    """Fetch the pinned idn-area-data package, check its digest and build the per-province index."""
    where = directory or gazetteer.directory()
    if installed(where) and not force:
        if not quiet:
            console.print(f"gazetteer: {gazetteer.PACKAGE} {gazetteer.VERSION} already in {gazetteer.index_dir(where)}")
        return
    try:
        install(where, tarball, force, say=console.print)
    except (InstallError, OSError, tarfile.TarError, KeyError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc


@app.command("where")
def where_command() -> None:
    """Print the directory the services read the gazetteer from."""
    print(gazetteer.index_dir(gazetteer.directory()))
