"""APScheduler as the controller's alarm clock, with a persistent SQLAlchemy job store.

Jobs in a persistent store can refer only to importable functions, so they name the farm
and ``wake`` finds its running controller here. The jobs only wake the controller at the
right time: every time-based item (soak ends, schedule times, windows) also lives in the
decision core's own state, so a virtual clock can drive the core without the scheduler
(APScheduler 3 reads the wall clock itself and cannot run on a virtual one).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime

from apscheduler.jobstores.base import JobLookupError
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

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
        ref = "controller.scheduling:wake"
        # Zones with runs under way, often: confirmations, retries, soak ends.
        self.scheduler.add_job(
            ref,
            "interval",
            seconds=tick_seconds,
            args=[self.farm_id, []],
            id=f"tick:{self.farm_id}",
            jobstore=MEMORY,
            replace_existing=True,
            misfire_grace_time=max(5, int(tick_seconds * 3)),
        )
        # Every zone, less often: windows opening, rest periods ending, sensors going quiet.
        self.scheduler.add_job(
            ref,
            "interval",
            seconds=sweep_seconds,
            args=[self.farm_id, None],
            id=f"sweep:{self.farm_id}",
            jobstore=MEMORY,
            replace_existing=True,
            misfire_grace_time=max(30, int(sweep_seconds * 2)),
        )
        for zone in self.farm.zones:
            for i, entry in enumerate(zone.fallback_schedule):
                # A schedule time missed by up to an hour (controller down) still runs.
                self.scheduler.add_job(
                    ref,
                    CronTrigger(
                        hour=entry.at.hour,
                        minute=entry.at.minute,
                        day_of_week=",".join(entry.days),
                        timezone=self.farm.farm.tz,
                    ),
                    args=[self.farm_id, [zone.id]],
                    id=f"schedule:{self.farm_id}:{zone.id}:{i}",
                    replace_existing=True,
                    misfire_grace_time=3600,
                )
        self.scheduler.start()
        for job in ("tick", "sweep"):
            # Releases before this one kept them in the database: once is enough.
            with contextlib.suppress(JobLookupError):
                self.scheduler.remove_job(f"{job}:{self.farm_id}", jobstore="default")

    def wake_at(self, when: datetime, zone: str, key: str) -> None:
        """Evaluate ``zone`` at ``when`` (a soak end); survives a restart of the controller."""
        self.scheduler.add_job(
            "controller.scheduling:wake",
            "date",
            run_date=when,
            args=[self.farm_id, [zone]],
            id=f"wake:{self.farm_id}:{key}",
            replace_existing=True,
            misfire_grace_time=3600,
        )

    def jobs(self) -> list[str]:
        return [job.id for job in self.scheduler.get_jobs()]

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        _wakers.pop(self.farm_id, None)


def utc_now() -> datetime:
    return datetime.now(UTC)
