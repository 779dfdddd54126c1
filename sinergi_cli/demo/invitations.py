"""The demo's answered invitation: a partner contact opens the link of an invitation e-mail caught
by the mail catcher and answers *hadir*, as a contact would on a phone (issue 14, 'done when').

Everything goes through public surfaces: the mail catcher's pages for the e-mail, the answer page
of the notifications service for the answer. Without a mail catcher (a real SMTP server), there is
nothing to open: the demo says so and goes on.
"""

from __future__ import annotations

import html
import re
import time

import httpx
from rich.console import Console

LINK = re.compile(r"https?://\S+/invitations/[A-Za-z0-9_.=-]+")
WAIT_SECONDS = 150.0  # the demo load is a few hundred events; its invitations come last
INVITING = {"activity.scheduled", "activity.invitation"}  # the rules whose e-mails to contacts invite


def answer_one(console: Console, mail_url: str, answer: str = "hadir", name: str | None = None) -> str | None:
    """Answer the first invitation e-mail the catcher holds; the link answered, or None."""
    deadline = time.monotonic() + WAIT_SECONDS
    console.print("demo: waiting for an invitation e-mail to a partner contact …")
    with httpx.Client(base_url=mail_url, timeout=10) as mail:
        while True:
            link = _first_link(mail)
            if link is not None:
                break
            if time.monotonic() > deadline:
                console.print("demo: no invitation e-mail reached the mail catcher; none answered")
                return None
            time.sleep(1.0)
    with httpx.Client(timeout=15) as page:
        shown = page.get(link)
        fields = {"answer": answer}
        if name:
            fields["name"] = name
        answered = page.post(link, data=fields) if shown.status_code == 200 else shown
    if answered.status_code != 200:
        console.print(f"demo: the invitation answer page said {answered.status_code}; none answered")
        return None
    console.print(f"demo: a partner contact answered an invitation ({answer}) at {link.split('/invitations/')[0]}"
                  "/invitations/…")
    return link


def _first_link(mail: httpx.Client) -> str | None:
    try:
        caught = mail.get("/messages.json").json()
    except (httpx.HTTPError, ValueError):
        return None
    for message in reversed(caught):  # the oldest invitation first: the demo's earliest activity
        if message.get("rule") not in INVITING:
            continue
        page = mail.get(f"/mail/{message['file']}")
        found = LINK.search(html.unescape(page.text)) if page.status_code == 200 else None
        if found:
            return found.group(0)
    return None
