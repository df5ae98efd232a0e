"""The real controller in-process for a test, against the test's own Mosquitto."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from controller.service import Controller


@contextlib.asynccontextmanager
async def running(controller: Controller) -> AsyncIterator[Controller]:
    """Run ``controller`` (no scheduler) until the block ends; yields once it is connected."""
    task = asyncio.create_task(controller.run(scheduled=False))
    try:
        await asyncio.wait_for(controller.link._connected.wait(), 10)
        yield controller
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
