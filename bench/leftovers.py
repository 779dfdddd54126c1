"""What a benchmark leaves behind, removed: its databases, queues and exchanges, found by its prefix.

The services a benchmark starts make their databases under ``SINERGI_DB_PREFIX`` (``<prefix>_``) and
declare their queues (with retry and dead-letter siblings) and exchanges under
``SINERGI_BUS_PREFIX`` (``<prefix>.``); listing them (the broker's through RabbitMQ's management API,
which ``sinergi infra up`` enables) finds every one without the benchmark knowing their names::

    .venv/bin/python bench/leftovers.py PREFIX [PREFIX ...]     # by hand, for a run that was killed
"""

from __future__ import annotations

import os
import sys
from urllib.parse import quote, unquote, urlsplit

import httpx

DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672/"


def remove(prefix: str, mongodb_url: str | None = None, rabbitmq_url: str | None = None) -> None:
    """Drop the databases ``<prefix>_…`` and delete the broker objects ``<prefix>.…``."""
    from pymongo import MongoClient

    client: MongoClient = MongoClient(mongodb_url or os.environ.get("SINERGI_MONGODB_URL", "mongodb://127.0.0.1:27017/"),
                                      serverSelectionTimeoutMS=3000)
    try:
        for name in client.list_database_names():
            if name.startswith(f"{prefix}_"):
                client.drop_database(name)
    finally:
        client.close()
    remove_broker_objects(prefix, rabbitmq_url)


def remove_broker_objects(prefix: str, rabbitmq_url: str | None = None) -> int:
    """Delete the queues and exchanges named ``<prefix>.…`` in the URL's vhost; how many went.
    Says so on stderr, and goes on, when the management API cannot be reached."""
    url = urlsplit(rabbitmq_url or os.environ.get("SINERGI_RABBITMQ_URL", DEFAULT_URL))
    vhost = quote(unquote(url.path[1:]) or "/", safe="")
    api = f"http://{url.hostname or '127.0.0.1'}:15672/api"
    auth = (unquote(url.username or "guest"), unquote(url.password or "guest"))
    removed = 0
    try:
        with httpx.Client(auth=auth, timeout=10) as client:
            for kind in ("queues", "exchanges"):
                listed = client.get(f"{api}/{kind}/{vhost}", params={"columns": "name"})
                listed.raise_for_status()
                for name in (item["name"] for item in listed.json()):
                    if name.startswith(f"{prefix}."):
                        client.delete(f"{api}/{kind}/{vhost}/{quote(name, safe='')}").raise_for_status()
                        removed += 1
    except httpx.HTTPError as exc:
        print(f"could not remove the broker objects of {prefix!r} ({exc!r}); "
              f"run: .venv/bin/python bench/leftovers.py {prefix}", file=sys.stderr)
    return removed


if __name__ == "__main__":
    for prefix in sys.argv[1:]:
        remove(prefix)
        print(f"{prefix}: databases dropped, queues and exchanges deleted")
