"""The demo region: a Kota Bandung (32.73) registry shaped like the seed articles."""

from __future__ import annotations

import os
from datetime import timedelta

import httpx
from rich.console import Console

from sinergi_cli.local import Home

DEMO_PARTNERS = [
    {"name": "Diskominfo Kota Bandung", "type": "opd_diskominfo", "region": "32.73"},
    {"name": "KIM Coblong Berdaya", "type": "kim", "region": "32.73", "district": "32.73.13"},
    {"name": "Komunitas Seni Braga", "type": "ormas_komunitas", "region": "32.73"},
]


def _token() -> str:
    from shared.auth import mint

    secret = os.environ.get("SINERGI_AUTH_SECRET") or Home.default().secret()
    return mint(secret, sub="demo-loader", role="admin", regions=["32.73"], ttl=timedelta(hours=1))


def load(console: Console, partners_url: str) -> None:
    headers = {"Authorization": f"Bearer {_token()}"}
    created = 0
    with httpx.Client(base_url=partners_url, headers=headers, timeout=10) as client:
        for partner in DEMO_PARTNERS:
            response = client.post("/partners", json=partner,
                                   headers={"Idempotency-Key": f"demo-partner-{partner['name']}"})
            if response.status_code == 201:
                created += 1
            elif response.status_code != 409:
                raise RuntimeError(f"{partner['name']}: {response.status_code} {response.text}")
    console.print(f"demo: {created} partners registered ({len(DEMO_PARTNERS) - created} already there)")
