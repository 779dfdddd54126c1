"""Demo partners of Kota Bandung (``partners.toml``): about eighty, shaped like the seed articles.

Loaded through ``POST /partners`` with an ``Idempotency-Key`` per partner: loading twice
creates nothing twice (and after the keys expire, the 409 names the partner that exists).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from rich.console import Console

from shared.gazetteer import installed
from sinergi_cli.demo import read

DATA = read("partners")
SUSPENDED: dict[str, str] = DATA["suspended"]  # name → reason


def _kecamatan() -> dict[str, str]:
    """The region's kecamatan, code → name, from the installed Kemendagri gazetteer."""
    places = installed(DATA["region"])
    return {code: places.name_of(code) or code for code in places.codes()}


KECAMATAN: dict[str, str] = _kecamatan()


def body(entry: dict[str, Any]) -> dict[str, Any]:
    """The ``POST /partners`` body of an entry of the file: the region added, the kecamatan by its name
    (the service finds the code, as it does for an office that types it)."""
    fields = {key: value for key, value in entry.items() if key != "kecamatan"}
    return {
        "region": DATA["region"],
        "district": entry.get("kecamatan"),
        "channels": [], "agreements": [], "notes": None,
        **fields,
        "contacts": [{"email": None, **contact} for contact in entry["contacts"]],
    }


DEMO_PARTNERS: list[dict[str, Any]] = [body(entry) for entry in DATA["partner"]]


def load(console: Console, client: httpx.Client, partners: list[dict[str, Any]] | None = None,
         workers: int = 4) -> list[str]:
    """Register the demo partners (or ``partners`` of them); returns their ids in that order,
    those already registered included."""
    partners = DEMO_PARTNERS if partners is None else partners
    with ThreadPoolExecutor(workers) as pool:
        ids = list(pool.map(lambda partner: _register(client, partner), partners))
    names = [p["name"] for p in partners]
    for name, reason in SUSPENDED.items():
        if name not in names:
            continue
        partner_id = ids[names.index(name)]
        response = client.post(f"/partners/{partner_id}/suspend", json={"reason": reason},
                               headers={"Idempotency-Key": f"demo-suspend-{partner_id}"})
        if response.status_code not in (200, 409):  # 409: suspended on an earlier load
            raise RuntimeError(f"{name}: {response.status_code} {response.text}")
    signed = sum(len(p["agreements"]) for p in partners)
    console.print(f"demo: {len(ids)} partners of Kota Bandung ({signed} MoU/PKS)")
    return ids


def _register(client: httpx.Client, partner: dict[str, Any]) -> str:
    response = client.post("/partners", json=partner, headers={"Idempotency-Key": f"demo-partner-{partner['name']}"})
    if response.status_code == 201:
        return response.json()["id"]
    if response.status_code == 409 and "existing_id" in response.json():
        return response.json()["existing_id"]
    raise RuntimeError(f"{partner['name']}: {response.status_code} {response.text}")
