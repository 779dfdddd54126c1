"""Demo recipients (``notifications.toml``): the Sosdiklih Parmas staff of KPU Kota Bandung, and,
when ``SINERGI_DEMO_WEBHOOK_URL`` is set, a system that receives signed webhooks there.

Loaded through the public API; a recipient whose name is already there is left as it is, so
loading twice changes nothing. Their e-mail goes to the local SMTP catcher of ``make up``.
"""

from __future__ import annotations

import os
from typing import Any

import httpx
from rich.console import Console

from sinergi_cli.demo import every, read

DATA = read("notifications")
DEMO_RECIPIENTS: list[dict[str, Any]] = DATA["recipient"]


def recipients() -> list[dict[str, Any]]:
    webhook = os.environ.get("SINERGI_DEMO_WEBHOOK_URL")
    return DEMO_RECIPIENTS + ([{**DATA["system"], "webhook_url": webhook}] if webhook else [])


def load(console: Console, client: httpx.Client) -> None:
    known = {r["name"] for r in every(client, "/recipients")}
    wanted = recipients()
    added = 0
    for recipient in wanted:
        if recipient["name"] in known:
            continue
        response = client.post("/recipients", json=recipient,
                               headers={"Idempotency-Key": f"demo-recipient-{recipient['name']}"})
        if response.status_code not in (200, 201):
            raise RuntimeError(f"{recipient['name']}: {response.status_code} {response.text}")
        added += 1
    console.print(f"demo: {len(wanted)} recipients ({added} added); their e-mail goes to the local catcher")
