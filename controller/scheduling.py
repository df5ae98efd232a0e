"""APScheduler as the controller's alarm clock, with a persistent SQLAlchemy job store.

Jobs in a persistent store can refer only to importable functions, so they name the farm
and ``wake`` finds its running controller here. The jobs only wake the controller at the
right time: every time-based item (soak ends, schedule times, windows) also lives in the
decision core's own state, so a wake-up a little late loses nothing.

APScheduler 3 reads the wall clock itself and cannot run on a virtual one: there
``VirtualScheduler`` runs the same jobs (the same APScheduler triggers) on the controller's
injected clock, fired by whoever moves that clock.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from smartfarm.config import FarmConfig

log = logging.getLogger(__name__)

MEMORY = "memory"
Waker = Callable[[Sequence[str] | None], Awaitable[object]]
_wakers: dict[str, Waker] = {}


async def wake(farm_id: str, zones: list[str] | None) -> None:
    """The one job function: evaluate these zones (None: all) of a running controller."""
    waker = _wakers.get(farm_id)
    if waker is None:
        log.warning("scheduler: no running controller for farm %s", farm_id)
        return
    await waker(zones)


class Scheduler(Protocol):
    """What the controller needs of its alarm clock."""

    def start(self, tick_seconds: float, sweep_seconds: float) -> None: ...
    def use_schedules(self, farm: FarmConfig) -> None: ...
    def wake_at(self, when: datetime, zone: str, key: str) -> None: ...
    def jobs(self) -> list[str]: ...
    def shutdown(self) -> None: ...


@dataclass(frozen=True, slots=True)
class JobSpec:
    """One of the controller's jobs, whichever clock runs it."""

    id: str
    trigger: BaseTrigger
    zones: list[str] | None  # what ``wake`` evaluates: [] the runs under way, None all
    misfire_grace_s: int
    kept: bool  # in the persistent store (survives a restart), or made anew at start


def job_specs(
    farm: FarmConfig, tick_seconds: float, sweep_seconds: float, now: datetime
) -> list[JobSpec]:
    """The tick, the sweep and every fallback-schedule time of the farm, from ``now``."""
    farm_id = farm.farm.id
    tick, sweep = timedelta(seconds=tick_seconds), timedelta(seconds=sweep_seconds)
    specs = [
        # Zones with runs under way, often: confirmations, retries, soak ends.
        JobSpec(
            f"tick:{farm_id}",
            IntervalTrigger(seconds=tick_seconds, start_date=now + tick, timezone=UTC),
            [],
            max(5, int(tick_seconds * 3)),
            kept=False,
        ),
        # Every zone, less often: windows opening, rest periods ending, sensors going quiet.
        JobSpec(
            f"sweep:{farm_id}",
            IntervalTrigger(seconds=sweep_seconds, start_date=now + sweep, timezone=UTC),
            None,
            max(30, int(sweep_seconds * 2)),
            kept=False,
        ),
    ]
    return specs + schedule_specs(farm)


def schedule_specs(farm: FarmConfig) -> list[JobSpec]:
    """A job for each fallback-schedule time of each zone (cron in the farm's time zone)."""
    specs = []
    for zone in farm.zones:
        for i, entry in enumerate(zone.fallback_schedule):
            trigger = CronTrigger(
                hour=entry.at.hour,
                minute=entry.at.minute,
                day_of_week=",".join(entry.days),
                timezone=farm.farm.tz,
            )
            # A schedule time missed by up to an hour (controller down) still runs.
            job_id = f"schedule:{farm.farm.id}:{zone.id}:{i}"
            specs.append(JobSpec(job_id, trigger, [zone.id], 3600, kept=True))
    return specs


def wake_spec(farm_id: str, when: datetime, zone: str, key: str) -> JobSpec:
    """Evaluate ``zone`` at ``when`` (a soak end)."""
    return JobSpec(f"wake:{farm_id}:{key}", DateTrigger(run_date=when), [zone], 3600, kept=True)


class ControllerScheduler:
    def __init__(self, farm: FarmConfig, db_url: str, waker: Waker) -> None:
        self.farm = farm
        self.farm_id = farm.farm.id
        _wakers[self.farm_id] = waker
        self.scheduler = AsyncIOScheduler(
            # The tick and the sweep are made anew at every start: kept in the database they
            # cost a write on the event loop every tick (and an SD card's wear) for nothing.
            # What must survive a restart (soak ends, schedules) goes to the database.
            jobstores={
                "default": SQLAlchemyJobStore(url=db_url, tablename="controller_jobs"),
                MEMORY: MemoryJobStore(),
            },
            # Missed runs are merged into one, never queued up; one at a time per job.
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
            timezone=UTC,
        )

    def start(self, tick_seconds: float, sweep_seconds: float) -> None:
        for spec in job_specs(self.farm, tick_seconds, sweep_seconds, utc_now()):
            self._add(spec)
        self.scheduler.start()
        for job in ("tick", "sweep"):
            # Releases before this one kept them in the database: once is enough.
            with contextlib.suppress(JobLookupError):
                self.scheduler.remove_job(f"{job}:{self.farm_id}", jobstore="default")

    def use_schedules(self, farm: FarmConfig) -> None:
        """A technician changed the zones' programs: their schedule jobs follow at once."""
        prefix = f"schedule:{self.farm_id}:"
        for job in self.scheduler.get_jobs(jobstore="default"):
            if job.id.startswith(prefix):
                job.remove()
        for spec in schedule_specs(farm):
            self._add(spec)

    def _add(self, spec: JobSpec) -> None:
        self.scheduler.add_job(
            "controller.scheduling:wake",
            spec.trigger,
            args=[self.farm_id, spec.zones],
            id=spec.id,
            jobstore="default" if spec.kept else MEMORY,
            replace_existing=True,
            misfire_grace_time=spec.misfire_grace_s,
        )

    def wake_at(self, when: datetime, zone: str, key: str) -> None:
        """Evaluate ``zone`` at ``when`` (a soak end); survives a restart of the controller."""
        self._add(wake_spec(self.farm_id, when, zone, key))

    def jobs(self) -> list[str]:
        return [job.id for job in self.scheduler.get_jobs()]

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        _wakers.pop(self.farm_id, None)


class VirtualScheduler:
    """The same jobs on the controller's own clock, for runs on a virtual one.

    APScheduler 3 reads the wall clock itself, so it cannot be moved. Here APScheduler's
    own triggers say when each job is due, and whoever moves the clock calls
    ``fire_due``: every job due by then runs once (missed times coalesce into one, as in
    ``ControllerScheduler``), in order of due time. Nothing survives the process: a
    virtual run does not restart.
    """

    def __init__(self, farm: FarmConfig, clock: Callable[[], datetime], waker: Waker) -> None:
        self.farm = farm
        self.clock = clock
        self.waker = waker
        self._jobs: dict[str, tuple[JobSpec, datetime]] = {}

    def start(self, tick_seconds: float, sweep_seconds: float) -> None:
        for spec in job_specs(self.farm, tick_seconds, sweep_seconds, self.clock()):
            self._add(spec)

    def use_schedules(self, farm: FarmConfig) -> None:
        prefix = f"schedule:{farm.farm.id}:"
        for job_id in [j for j in self._jobs if j.startswith(prefix)]:
            del self._jobs[job_id]
        for spec in schedule_specs(farm):
            self._add(spec)

    def _add(self, spec: JobSpec) -> None:
        first = spec.trigger.get_next_fire_time(None, self.clock())
        if first is not None:
            self._jobs[spec.id] = (spec, first)

    def wake_at(self, when: datetime, zone: str, key: str) -> None:
        self._add(wake_spec(self.farm.farm.id, when, zone, key))

    def next_due(self) -> datetime | None:
        return min((at for _, at in self._jobs.values()), default=None)

    async def fire_due(self) -> int:
        """Run every job due by the clock's time; how many ran."""
        now = self.clock()
        due = sorted((at, job_id) for job_id, (_, at) in self._jobs.items() if at <= now)
        for _, job_id in due:
            spec, _ = self._jobs.pop(job_id)
            if not isinstance(spec.trigger, DateTrigger):
                # The first time after now: the missed ones are merged into this run.
                after = spec.trigger.get_next_fire_time(None, now + timedelta(microseconds=1))
                if after is not None:
                    self._jobs[job_id] = (spec, after)
            await self.waker(spec.zones)
        return len(due)

    def jobs(self) -> list[str]:
        return list(self._jobs)

    def shutdown(self) -> None:
        self._jobs.clear()


def utc_now() -> datetime:
    return datetime.now(UTC)
