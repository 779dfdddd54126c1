"""A process's background tasks, stopped together."""

from __future__ import annotations

import asyncio

# How long a cancelled task is given before it is cancelled again.
AGAIN_AFTER_SECONDS = 1.0


async def cancel_all(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel every task and wait until each has ended (its ``finally`` blocks have run).

    A task can swallow its cancellation: on Python 3.11 ``asyncio.wait_for`` (aiormq's publish
    timeout uses it) returns the result instead when its inner call completes as the cancellation
    arrives. A relay worker then went back to waiting on its queue and the service's stop waited for
    it forever (CI: tests hung 300 s leaving ``running()``). Such a task is cancelled again.
    """
    for task in tasks:
        task.cancel()
    for task in tasks:
        while not task.done():
            await asyncio.wait({task}, timeout=AGAIN_AFTER_SECONDS)
            if not task.done():
                task.cancel()
        if not task.cancelled() and (error := task.exception()) is not None:
            raise error
