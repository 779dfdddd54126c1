"""``sinergi seed demo``: the demo region loaded into running services through their HTTP APIs,
recipients first (so they hear of what follows), then partners, then the activities that name them."""

from __future__ import annotations

import os
from datetime import timedelta

import httpx
from rich.console import Console

from sinergi_cli.demo import activities, notifications, partners
from sinergi_cli.local import Home


def admin_token(region: str) -> str:
    from shared.auth import mint

    secret = os.environ.get("SINERGI_AUTH_SECRET") or Home.default().secret()
    return mint(secret, sub="demo-loader", role="admin", regions=[region], ttl=timedelta(hours=1))


def load(console: Console, partners_url: str, activities_url: str, notifications_url: str) -> None:
    headers = {"Authorization": f"Bearer {admin_token(partners.DATA['region'])}"}
    with (
        httpx.Client(base_url=partners_url, headers=headers, timeout=30) as to_partners,
        httpx.Client(base_url=activities_url, headers=headers, timeout=30) as to_activities,
        httpx.Client(base_url=notifications_url, headers=headers, timeout=30) as to_notifications,
    ):
        notifications.load(console, to_notifications)
        partner_ids = partners.load(console, to_partners)
        activities.load(console, to_activities, partner_ids)
