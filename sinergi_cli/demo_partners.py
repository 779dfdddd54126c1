"""Demo partners of Kota Bandung (32.73)."""

from __future__ import annotations

import httpx
from rich.console import Console

DEMO_PARTNERS = [
    {"name": "Diskominfo Kota Bandung", "type": "opd_diskominfo", "region": "32.73"},
    {"name": "KIM Coblong Berdaya", "type": "kim", "region": "32.73", "district": "32.73.13"},
    {"name": "Komunitas Seni Braga", "type": "ormas_komunitas", "region": "32.73"},
]


def load(console: Console, client: httpx.Client) -> list[str]:
    """Register the demo partners; returns their ids (existing ones included)."""
    ids: list[str] = []
    for partner in DEMO_PARTNERS:
        response = client.post("/partners", json=partner, headers={"Idempotency-Key": f"demo-partner-{partner['name']}"})
        if response.status_code == 201:
            ids.append(response.json()["id"])
        elif response.status_code == 409:
            ids.append(response.json()["existing_id"])
        else:
            raise RuntimeError(f"{partner['name']}: {response.status_code} {response.text}")
    console.print(f"demo: {len(ids)} partners")
    return ids
