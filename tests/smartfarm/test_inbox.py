"""The hand-off from paho's thread to the loop: nothing lost, nothing reordered, no lost wake-up."""

from __future__ import annotations

import asyncio
import random
import threading
import time

import pytest

from smartfarm.inbox import Inbox


def test_items_from_several_threads_arrive_complete_and_in_each_threads_order() -> None:
    async def main() -> list[tuple[int, int]]:
        loop = asyncio.get_running_loop()
        inbox: Inbox[tuple[int, int]] = Inbox()

        def produce(who: int) -> None:
            rng = random.Random(who)
            for i in range(3000):
                inbox.put_threadsafe(loop, (who, i))
                if rng.random() < 0.01:
                    time.sleep(0.001)  # let the consumer empty the inbox and wait again

        threads = [threading.Thread(target=produce, args=(w,)) for w in range(3)]
        for t in threads:
            t.start()
        got = [await asyncio.wait_for(inbox.get(), 5) for _ in range(9000)]
        for t in threads:
            t.join()
        assert inbox.empty()
        return got

    got = asyncio.run(main())
    for who in range(3):
        assert [i for w, i in got if w == who] == list(range(3000))


def test_get_nowait_on_empty_raises_queue_empty_and_put_nowait_wakes_a_waiter() -> None:
    async def main() -> None:
        inbox: Inbox[str] = Inbox()
        with pytest.raises(asyncio.QueueEmpty):
            inbox.get_nowait()
        waiter = asyncio.create_task(inbox.get())
        await asyncio.sleep(0)
        inbox.put_nowait("a")
        assert await asyncio.wait_for(waiter, 1) == "a"
        assert inbox.qsize() == 0

    asyncio.run(main())
