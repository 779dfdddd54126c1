"""The RabbitMQ that ``make up`` and ``make test`` start holds the queues a region declares.

Every quorum queue reserves handles in the node's file-handle cache, sized from the node's limit on
open files; started with a shell's default limit (1024), a node took ~300 quorum queues and then
accepted TCP connections it never answered — the whole test session hung behind it.
"""

from __future__ import annotations

import asyncio
import secrets
from urllib.parse import quote, urlparse, urlunparse

import aio_pika

from tests.ops_support import local_management, scratch

QUEUES = 400  # more than a node limited to 1024 open files can hold


async def test_the_local_broker_answers_new_connections_with_hundreds_of_quorum_queues(servers):
    management = local_management(servers)
    with scratch(management) as made:
        vhost = made.vhost(f"sinergi-handles-{secrets.token_hex(3)}")
        parsed = urlparse(servers.rabbitmq_url)
        url = urlunparse((parsed.scheme, parsed.netloc, "/" + quote(vhost, safe=""), "", "", ""))
        async with await aio_pika.connect(url, timeout=15) as connection:
            channel = await connection.channel()
            for number in range(QUEUES):
                await channel.declare_queue(f"q{number}", durable=True, arguments={"x-queue-type": "quorum"},
                                            timeout=15)
        # A staff member's next request opens a connection: the broker must still answer it.
        again = await asyncio.wait_for(aio_pika.connect(url, timeout=15), 20)
        await again.close()
