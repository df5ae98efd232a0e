"""The controller's persistence on PostgreSQL (production) and SQLite (default): runs,
cycles, pauses, and the scheduler's job store surviving a restart."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy.exc

from controller.model import Cycle, Run, RunKind, RunStatus
from controller.scheduling import ControllerScheduler, VirtualScheduler
from controller.store import AlarmWrite, ControlStore, PlanWrite
from smartfarm.config import load_farm_config, parse_farm_config
from smartfarm.models import Action, DecisionRecord
from smartfarm.stores.state import StateStore
from tests.conftest import EXAMPLE_FARM

T0 = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return str(request.getfixturevalue("postgres_url"))


def test_runs_cycles_and_overrides_round_trip(db_url: str) -> None:
    store = ControlStore(db_url)
    try:
        queued = Run("r1", "z1", RunKind.MANUAL, "farmer Lan", T0, RunStatus.QUEUED, target_s=600)
        store.save_runs([queued])
        running = Run(
            "r1",
            "z1",
            RunKind.MANUAL,
            "farmer Lan",
            T0,
            RunStatus.RUNNING,
            target_s=600,
            command_id="c1",
            commanded_at=T0,
            cycle_s=600,
            cycle_started_at=T0,
            attempts=1,
        )
        store.save_runs([running])
        assert store.active_runs() == [running]
        done = Run(
            "r2",
            "z2",
            RunKind.AUTO,
            "controller",
            T0,
            RunStatus.DONE,
            delivered_s=900,
            ended_at=T0 + timedelta(minutes=15),
            end_reason="reached stop",
        )
        store.save_runs([done])
        assert [r.id for r in store.active_runs()] == ["r1"]
        assert store.last_run_ends() == {"z2": T0 + timedelta(minutes=15)}
        store.add_cycles([Cycle("z2", "r2", T0, 900, 1000.0), Cycle("z2", "r2", T0, 60, 66.0)])
        assert store.delivered_since(T0 - timedelta(hours=1)) == {"z2": (960.0, 1066.0)}
        assert store.delivered_since(T0 + timedelta(hours=1)) == {}
        store.set_override("z1", T0 + timedelta(days=1), None)
        assert store.overrides() == {"z1": (T0 + timedelta(days=1), None)}
        store.add_rain(T0, 12.5, "tech Minh")
        assert store.rain_since(T0 - timedelta(hours=1)) == [(T0, 12.5)]
    finally:
        store.close()


def test_state_store_alarms_on_the_same_database(db_url: str) -> None:
    state = StateStore(db_url)
    try:
        _, new = state.raise_alarm("controller", "sensor_fault", "z1 quiet", T0, "z1")
        assert new and [a.kind for a in state.alarms()] == ["sensor_fault"]
    finally:
        state.close()


def test_scheduler_jobs_persist_and_wake_the_controller(db_url: str) -> None:
    text = EXAMPLE_FARM.read_text(encoding="utf-8").replace(
        "    max_run_minutes: 45\n",
        '    max_run_minutes: 45\n    fallback_schedule: [{at: "05:30", minutes: 20}]\n',
        1,
    )
    farm = parse_farm_config(text)
    woken: list[Sequence[str] | None] = []

    async def waker(zones: Sequence[str] | None) -> None:
        woken.append(zones)

    async def first_life() -> list[str]:
        scheduler = ControllerScheduler(farm, db_url, waker)
        scheduler.start(tick_seconds=0.5, sweep_seconds=3600)
        scheduler.wake_at(datetime.now(UTC) + timedelta(seconds=1), "z2", "soak-1")
        scheduler.wake_at(datetime.now(UTC) + timedelta(hours=1), "z1", "soak-2")
        await asyncio.sleep(2.5)
        jobs = scheduler.jobs()
        scheduler.shutdown()
        return jobs

    jobs = asyncio.run(first_life())
    assert ["z2"] in woken and [] in woken  # the soak wake-up and the tick ran
    assert "wake:demo-farm:soak-2" in jobs and "wake:demo-farm:soak-1" not in jobs
    assert "schedule:demo-farm:z3:0" in jobs

    async def second_life() -> list[str]:
        scheduler = ControllerScheduler(load_farm_config(EXAMPLE_FARM), db_url, waker)
        scheduler.scheduler.start(paused=True)  # what the store kept, before adding anything
        jobs = scheduler.jobs()
        scheduler.shutdown()
        return jobs

    kept = asyncio.run(second_life())
    assert "wake:demo-farm:soak-2" in kept
    # The tick and the sweep are made anew at each start, never written every tick.
    assert not any(job.startswith(("tick:", "sweep:")) for job in kept)


def test_a_tick_an_older_release_kept_in_the_database_is_dropped(db_url: str) -> None:
    farm = load_farm_config(EXAMPLE_FARM)

    async def waker(zones: Sequence[str] | None) -> None:
        return None

    async def life(legacy: bool) -> list[str]:
        scheduler = ControllerScheduler(farm, db_url, waker)
        if legacy:  # as releases before 2026-12-08 stored it
            scheduler.scheduler.start(paused=True)
            scheduler.scheduler.add_job(
                "controller.scheduling:wake",
                "interval",
                seconds=2,
                id="tick:demo-farm",
                args=["demo-farm", []],
                jobstore="default",
            )
            jobs = scheduler.jobs()
        else:
            scheduler.start(tick_seconds=2, sweep_seconds=60)
            jobs = [j.id for j in scheduler.scheduler.get_jobs(jobstore="default")]
        scheduler.shutdown()
        return jobs

    assert "tick:demo-farm" in asyncio.run(life(legacy=True))
    assert "tick:demo-farm" not in asyncio.run(life(legacy=False))


def test_a_database_from_an_older_release_gets_the_new_columns(db_url: str) -> None:
    """runs.start_moisture came after the first release: an older database gains it, empty."""
    from sqlalchemy import Column, MetaData, Table, insert, inspect

    from controller.store import runs
    from smartfarm.stores.state import make_engine

    old = MetaData()
    kept = [c for c in runs.columns if c.name != "start_moisture"]
    Table("runs", old, *[Column(c.name, c.type, primary_key=c.primary_key) for c in kept])
    engine = make_engine(db_url)
    old.create_all(engine)
    row = {
        "id": "r0",
        "zone": "z1",
        "kind": "auto",
        "by": "controller",
        "created_at": T0,
        "status": "queued",
        "delivered_s": 0.0,
        "attempts": 0,
    }
    with engine.begin() as conn:
        conn.execute(insert(old.tables["runs"]), [row])
    engine.dispose()
    store = ControlStore(db_url)
    try:
        [before] = store.active_runs()
        assert (before.id, before.start_moisture) == ("r0", None)
        store.save_runs([replace(before, start_moisture=0.27)])
        assert store.active_runs()[0].start_moisture == 0.27
        engine = make_engine(db_url)
        assert "start_moisture" in {c["name"] for c in inspect(engine).get_columns("runs")}
        engine.dispose()
    finally:
        store.close()


def test_a_plan_is_written_whole_in_one_transaction_or_not_at_all(db_url: str) -> None:
    store, state = ControlStore(db_url), StateStore(db_url)
    try:
        run = Run("r9", "z1", RunKind.AUTO, "controller", T0, RunStatus.OPENING, target_s=600)
        decision = DecisionRecord(T0, "z1", Action.OPEN, "moisture 21.0% below 23.1%", "controller")
        store.write(
            PlanWrite(
                T0,
                runs=[run],
                cycles=[Cycle("z1", "r9", T0, 60, 20.0)],
                overrides={"z2": (T0 + timedelta(hours=2), None)},
                rain=[(T0, 4.0, "rain gauge g1")],
                decisions=[decision],
                alarms=[AlarmWrite("leak_or_clog", "z1", "still dry after 120 min", True)],
            )
        )
        assert [r.id for r in store.active_runs()] == ["r9"]
        assert store.delivered_since(T0) == {"z1": (60.0, 20.0)}
        assert store.overrides()["z2"][0] == T0 + timedelta(hours=2)
        assert store.rain_since(T0) == [(T0, 4.0)]
        assert [d.reason for d in state.decisions(zone="z1")] == [decision.reason]
        assert [(a.kind, a.zone) for a in state.alarms()] == [("leak_or_clog", "z1")]
        # A plan that fails half-way (its run has no zone) leaves nothing of itself behind.
        bad = replace(run, id="r10", zone=None)  # type: ignore[arg-type]
        later = replace(decision, reason="never stored")
        with pytest.raises(sqlalchemy.exc.IntegrityError):
            store.write(PlanWrite(T0, decisions=[later], runs=[bad]))
        assert [d.reason for d in state.decisions(zone="z1")] == [decision.reason]
        assert [r.id for r in store.active_runs()] == ["r9"]
        # Clearing goes through the same path.
        store.write(PlanWrite(T0, alarms=[AlarmWrite("leak_or_clog", "z1", "", False)]))
        assert state.alarms() == []
    finally:
        store.close()
        state.close()


def test_the_virtual_scheduler_runs_the_same_jobs_on_the_controllers_clock() -> None:
    text = EXAMPLE_FARM.read_text(encoding="utf-8").replace(
        "    max_run_minutes: 45\n",
        '    max_run_minutes: 45\n    fallback_schedule: [{at: "05:30", minutes: 20}]\n',
        1,
    )
    farm = parse_farm_config(text)
    # 05:00 in the farm's time zone: the 05:30 schedule is half an hour away.
    now = [datetime(2026, 3, 1, 5, 0, tzinfo=farm.farm.tz).astimezone(UTC)]
    woken: list[Sequence[str] | None] = []

    async def waker(zones: Sequence[str] | None) -> None:
        woken.append(zones)

    async def main() -> None:
        scheduler = VirtualScheduler(farm, lambda: now[0], waker)
        scheduler.start(tick_seconds=2, sweep_seconds=60)
        assert scheduler.next_due() == now[0] + timedelta(seconds=2)
        assert await scheduler.fire_due() == 0  # nothing is due yet
        now[0] += timedelta(seconds=2)
        assert await scheduler.fire_due() == 1 and woken == [[]]
        scheduler.wake_at(now[0] + timedelta(minutes=5), "z2", "soak-1")
        # Ten minutes at once: the ticks and sweeps missed merge into one run each, the
        # soak end runs once, in order of due time; the 05:30 schedule is not due yet.
        now[0] += timedelta(minutes=10)
        woken.clear()
        assert await scheduler.fire_due() == 3
        assert woken == [[], None, ["z2"]]
        assert "wake:demo-farm:soak-1" not in scheduler.jobs()
        assert scheduler.next_due() == now[0] + timedelta(seconds=2)
        now[0] += timedelta(minutes=25)
        woken.clear()
        await scheduler.fire_due()
        assert ["z3"] in woken  # 05:37: the fallback schedule of z3 (05:30) has fired
        scheduler.shutdown()
        assert scheduler.jobs() == []

    asyncio.run(main())


@pytest.mark.parametrize("kind", ["apscheduler", "virtual"])
def test_a_changed_program_reaches_the_scheduler_without_a_restart(
    kind: str, tmp_path: Path
) -> None:
    plain = load_farm_config(EXAMPLE_FARM)
    text = EXAMPLE_FARM.read_text(encoding="utf-8").replace(
        "    max_run_minutes: 45\n",
        '    max_run_minutes: 45\n    fallback_schedule: [{at: "05:30", minutes: 20}]\n',
        1,
    )
    programmed = parse_farm_config(text)

    async def waker(zones: Sequence[str] | None) -> None:
        return None

    async def main() -> list[list[str]]:
        scheduler: ControllerScheduler | VirtualScheduler
        if kind == "virtual":
            scheduler = VirtualScheduler(plain, lambda: T0, waker)
        else:
            scheduler = ControllerScheduler(plain, f"sqlite:///{tmp_path / 'jobs.db'}", waker)
        scheduler.start(tick_seconds=2, sweep_seconds=60)
        seen = [scheduler.jobs()]
        scheduler.use_schedules(programmed)  # what TunedController.retune does
        seen.append(scheduler.jobs())
        scheduler.use_schedules(plain)
        seen.append(scheduler.jobs())
        scheduler.shutdown()
        return seen

    before, programmed_jobs, after = asyncio.run(main())
    assert "schedule:demo-farm:z3:0" not in before
    assert "schedule:demo-farm:z3:0" in programmed_jobs
    assert "schedule:demo-farm:z3:0" not in after
    assert "tick:demo-farm" in after
