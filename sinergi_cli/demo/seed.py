"""``sinergi seed demo``: the demo region loaded into running services through their HTTP APIs,
recipients first (so they hear of what follows), then partners, then the activities that name them."""

from __future__ import annotations

from datetime import timedelta

import httpx
from ulid import ULID
from rich.console import Console

from sinergi_cli.calls import minted
from sinergi_cli.demo import activities, invitations, notifications, partners


def load(console: Console, partners_url: str, activities_url: str, notifications_url: str,
         mail_url: str | None = None) -> None:
    token = minted("admin", partners.DATA["region"], "demo-loader", timedelta(hours=1))
    # One batch for the whole load: notifications sums its partners and activities up per recipient.
    headers = {"Authorization": f"Bearer {token}", "X-Sinergi-Batch": f"{ULID()}; label=demo"}
    with (
        httpx.Client(base_url=partners_url, headers=headers, timeout=30) as to_partners,
        httpx.Client(base_url=activities_url, headers=headers, timeout=30) as to_activities,
        httpx.Client(base_url=notifications_url, headers=headers, timeout=30) as to_notifications,
    ):
        notifications.load(console, to_notifications)
        partner_ids = partners.load(console, to_partners)
        activities.load(console, to_activities, partner_ids)
    if mail_url:
        invitations.answer_one(console, mail_url)
