"""A service stops even when one of its tasks swallowed its cancellation (Python 3.11's
``asyncio.wait_for`` can, when what it waits for completes as the cancellation arrives): before,
the stop waited for that task forever and tests hung 300 s leaving ``running()``."""

from __future__ import annotations

import asyncio

import pytest

from shared.tasks import cancel_all


async def test_a_task_that_swallowed_its_cancellation_is_cancelled_again():
    queue: asyncio.Queue[int] = asyncio.Queue()
    swallowed = []

    async def worker() -> None:  # the relay's shape: a loop on a queue, its work cut short once
        while True:
            await queue.get()
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                swallowed.append(True)  # as wait_for does when its inner call has just completed

    task = asyncio.create_task(worker())
    queue.put_nowait(1)
    await asyncio.sleep(0.05)
    stopping = asyncio.create_task(cancel_all([task]))
    await asyncio.wait({stopping}, timeout=10)
    assert stopping.done(), "the stop still waits for a task that swallowed its cancellation"
    assert task.cancelled() and swallowed == [True]


async def test_a_task_that_failed_still_reports_its_error():
    async def failing() -> None:
        raise RuntimeError("broken")

    task = asyncio.create_task(failing())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="broken"):
        await cancel_all([task])
