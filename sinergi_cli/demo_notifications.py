"""Demo recipients: the Sosdiklih Parmas staff of KPU Kota Bandung (and, on request, a system).

Loaded through the public API; a recipient whose name is already there is left as it is, so
loading twice changes nothing. Their e-mail goes to the local SMTP catcher of ``make up``.
Set ``SINERGI_DEMO_WEBHOOK_URL`` to also add a system that receives signed webhooks there.
"""

from __future__ import annotations

import os
from typing import Any

import httpx
from rich.console import Console

DOMAIN = "kpu-kotabandung.example"

DEMO_RECIPIENTS: list[dict[str, Any]] = [
    {"name": "Rina Kartika (Anggota KPU, Divisi Sosdiklih Parmas dan SDM)", "kind": "staff",
     "email": f"rina.kartika@{DOMAIN}", "subscriptions": []},
    {"name": "Dedi Supriadi (Kasubbag Teknis dan Hupmas)", "kind": "staff", "email": f"dedi.supriadi@{DOMAIN}",
     "subscriptions": ["activity.*", "coverage.gap", "digest.weekly"]},
    {"name": "Sinta Maharani (Staf Sosdiklih Parmas)", "kind": "staff", "email": f"sinta.maharani@{DOMAIN}",
     "subscriptions": ["activity.scheduled", "activity.reminder", "activity.report_overdue", "activity.cancelled",
                       "partner.registered", "partner.agreement_expiring"]},
    {"name": "Yoga Pratama (Staf Hupmas, reads English)", "kind": "staff", "email": f"yoga.pratama@{DOMAIN}",
     "language": "en", "subscriptions": ["partner.*", "digest.weekly"]},
]


def recipients() -> list[dict[str, Any]]:
    found = list(DEMO_RECIPIENTS)
    webhook = os.environ.get("SINERGI_DEMO_WEBHOOK_URL")
    if webhook:
        found.append({"name": "Dasbor Partisipasi KPU Provinsi Jawa Barat", "kind": "system", "webhook_url": webhook,
                      "subscriptions": ["activity.scheduled", "activity.cancelled", "coverage.gap"]})
    return found


def _existing(client: httpx.Client) -> set[str]:
    names: set[str] = set()
    cursor = None
    while True:
        response = client.get("/recipients", params={"limit": 500, **({"cursor": cursor} if cursor else {})})
        response.raise_for_status()
        page = response.json()
        names |= {r["name"] for r in page["items"]}
        cursor = page["next_cursor"]
        if not cursor:
            return names


def load(console: Console, client: httpx.Client) -> None:
    known = _existing(client)
    added = 0
    for recipient in recipients():
        if recipient["name"] in known:
            continue
        response = client.post("/recipients", json=recipient,
                               headers={"Idempotency-Key": f"demo-recipient-{recipient['name']}"})
        if response.status_code not in (200, 201):
            raise RuntimeError(f"{recipient['name']}: {response.status_code} {response.text}")
        added += 1
    console.print(f"demo: {len(recipients())} recipients ({added} added); their e-mail goes to the local catcher")
