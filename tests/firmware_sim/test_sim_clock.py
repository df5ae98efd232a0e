"""The simulator's clocks: a virtual one moved by hand, and the wall clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from firmware_sim.clock import VirtualClock, WallClock

T0 = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)


def test_virtual_time_moves_only_when_advanced() -> None:
    clock = VirtualClock(T0)
    assert clock.now() == T0
    assert clock.now() == T0
    clock.advance(90)
    assert clock.now() == T0 + timedelta(seconds=90)
    clock.advance(timedelta(hours=1))
    assert clock.now() == T0 + timedelta(seconds=3690)


def test_timers_fire_in_order_each_at_its_own_time() -> None:
    clock = VirtualClock(T0)
    fired: list[tuple[str, datetime]] = []
    clock.call_later(300, lambda: fired.append(("b", clock.now())))
    clock.call_later(60, lambda: fired.append(("a", clock.now())))
    clock.call_later(300, lambda: fired.append(("c", clock.now())))  # same time: in order
    clock.call_later(900, lambda: fired.append(("late", clock.now())))
    assert clock.next_due() == T0 + timedelta(seconds=60)
    assert clock.advance(600) == 3
    assert fired == [
        ("a", T0 + timedelta(seconds=60)),
        ("b", T0 + timedelta(seconds=300)),
        ("c", T0 + timedelta(seconds=300)),
    ]
    assert clock.now() == T0 + timedelta(seconds=600)
    assert clock.next_due() == T0 + timedelta(seconds=900)


def test_a_cancelled_timer_never_fires() -> None:
    clock = VirtualClock(T0)
    fired: list[str] = []
    timer = clock.call_later(10, lambda: fired.append("x"))
    timer.cancel()
    assert clock.next_due() is None
    assert clock.advance(60) == 0
    assert fired == []


def test_a_timer_set_by_a_timer_fires_in_the_same_advance_if_due() -> None:
    clock = VirtualClock(T0)
    fired: list[datetime] = []

    def first() -> None:
        fired.append(clock.now())
        clock.call_later(30, lambda: fired.append(clock.now()))

    clock.call_later(10, first)
    clock.advance(60)
    assert fired == [T0 + timedelta(seconds=10), T0 + timedelta(seconds=40)]


def test_a_timer_in_the_past_fires_now() -> None:
    clock = VirtualClock(T0)
    clock.advance(100)
    fired: list[datetime] = []
    clock.call_at(T0, lambda: fired.append(clock.now()))
    clock.advance(0)
    assert fired == [T0 + timedelta(seconds=100)]


def test_virtual_time_never_goes_back_and_needs_a_zone() -> None:
    clock = VirtualClock(T0)
    with pytest.raises(ValueError, match="does not go back"):
        clock.advance_to(T0 - timedelta(seconds=1))
    with pytest.raises(ValueError, match="timezone-aware"):
        VirtualClock(datetime(2026, 3, 1))


def test_wall_clock_timers_use_the_event_loop() -> None:
    async def scenario() -> float:
        clock = WallClock()
        done = asyncio.Event()
        start = clock.now()
        clock.call_at(start + timedelta(seconds=0.05), done.set)
        cancelled = clock.call_at(start, lambda: pytest.fail("cancelled timer fired"))
        cancelled.cancel()
        await asyncio.wait_for(done.wait(), 5)
        return (clock.now() - start).total_seconds()

    assert 0.04 <= asyncio.run(scenario()) < 5
    assert WallClock().now().tzinfo is UTC
