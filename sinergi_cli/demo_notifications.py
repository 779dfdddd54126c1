"""Demo recipients: the Sosdiklih Parmas staff of KPU Kota Bandung."""

from __future__ import annotations

import httpx
from rich.console import Console

DEMO_RECIPIENTS = [{"name": "Staf Sosdiklih Parmas", "kind": "staff"}]


def load(console: Console, client: httpx.Client) -> None:
    for recipient in DEMO_RECIPIENTS:
        response = client.post("/recipients", json=recipient,
                               headers={"Idempotency-Key": f"demo-recipient-{recipient['name']}"})
        if response.status_code not in (200, 201, 409):
            raise RuntimeError(f"{recipient['name']}: {response.status_code} {response.text}")
    console.print(f"demo: {len(DEMO_RECIPIENTS)} recipients")
