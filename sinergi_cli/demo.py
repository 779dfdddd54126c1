"""The demo region: Kota Bandung (32.73), shaped like the seed articles.

Loaded through the public HTTP APIs, as any client would, with idempotency keys so that
loading twice changes nothing. Each service's part lives in its own module.
"""

from __future__ import annotations

import os
from datetime import timedelta

import httpx
from rich.console import Console

from sinergi_cli import demo_activities, demo_notifications, demo_partners
from sinergi_cli.local import Home


def admin_token(region: str = "32.73") -> str:
    from shared.auth import mint

    secret = os.environ.get("SINERGI_AUTH_SECRET") or Home.default().secret()
    return mint(secret, sub="demo-loader", role="admin", regions=[region], ttl=timedelta(hours=1))


def load(console: Console, partners_url: str, activities_url: str, notifications_url: str) -> None:
    headers = {"Authorization": f"Bearer {admin_token()}"}
    with (
        httpx.Client(base_url=partners_url, headers=headers, timeout=30) as partners,
        httpx.Client(base_url=activities_url, headers=headers, timeout=30) as activities,
        httpx.Client(base_url=notifications_url, headers=headers, timeout=30) as notifications,
    ):
        demo_notifications.load(console, notifications)
        partner_ids = demo_partners.load(console, partners)
        demo_activities.load(console, activities, partner_ids)
