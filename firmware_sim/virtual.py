"""The closed loop on a virtual clock: simulated farm <-> real broker <-> real controller.

One asyncio loop runs the farm's nodes and the controller, each with its own MQTT
connection to a real broker. Time is a ``VirtualClock`` both share. Each step advances
the clock (soil, valve timers), publishes the readings, then waits at a barrier until
the controller has handled everything published and the valves everything it sent back.

APScheduler 3 reads the wall clock, so the controller's jobs (tick, sweep, soak ends,
fallback schedules) run here in a ``VirtualScheduler`` on the shared clock, with the same
APScheduler triggers: wherever the driver stops the clock (each step, each valve closing
itself), what is due by then runs once.

The barrier relies on MQTT keeping one connection's messages in order. The controller
holds what it receives; once it has every reading sent this step (counted per sensor)
and a marker from each valve that spoke (sent after its states), the driver releases
the held messages to the controller's own ``on_message`` in a canonical order, so a run
is deterministic given a seed whatever the interleaving of different connections. The
controller then publishes a marker, which each valve sees after the controller's
commands. Rounds repeat until no valve has anything new to say.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Self

from controller.scheduling import Scheduler, VirtualScheduler
from controller.service import Controller
from controller.settings import ControllerSettings
from controller.store import ControlStore
from firmware_sim.clock import VirtualClock
from firmware_sim.farm import SimFarm
from firmware_sim.faults import FaultSpec
from firmware_sim.link import LoopLink
from firmware_sim.weather import Weather
from smartfarm.config import FarmConfig
from smartfarm.mqtt import Message
from smartfarm.stores.state import StateStore
from smartfarm.topics import QOS_COMMAND, Topics

log = logging.getLogger(__name__)
BARRIER_TIMEOUT_S = 30.0
# Startup: subscriptions may not be in place yet, so markers are sent again this often.
RESEND_S = 0.5
MAX_ROUNDS = 20


@dataclass(frozen=True, slots=True)
class StepObservation:
    at: datetime
    moisture: dict[str, float]  # zone -> the soil's true water content (m3/m3)
    open_zones: frozenset[str]
    flow_lph: float  # sum of the design flows of the open zone valves


@dataclass(frozen=True, slots=True)
class CommandSeen:
    at: datetime
    valve: str
    action: str | None
    duration_s: int | None
    accepted: bool
    reason: str


@dataclass(frozen=True, slots=True)
class Watering:
    """One stretch of a valve being open, by the valve's own account."""

    valve: str
    start: datetime
    end: datetime

    @property
    def minutes(self) -> float:
        return (self.end - self.start).total_seconds() / 60


@dataclass
class ValveRecorder:
    """The valves' observer: commands, open stretches and barrier markers."""

    clock: VirtualClock
    progress: asyncio.Event
    commands: list[CommandSeen] = field(default_factory=list)
    waterings: list[Watering] = field(default_factory=list)
    open_since: dict[str, datetime] = field(default_factory=dict)
    marks: dict[str, bytes] = field(default_factory=dict)

    def command(self, valve: str, payload: bytes, accepted: bool) -> None:
        try:
            body: dict[str, Any] = json.loads(payload)
        except ValueError:
            body = {}
        duration = body.get("duration_s")
        self.commands.append(
            CommandSeen(
                self.clock.now(),
                valve,
                body.get("action"),
                duration if isinstance(duration, int) else None,
                accepted,
                str(body.get("reason", "")),
            )
        )

    def changed(self, valve: str, is_open: bool, at: datetime) -> None:
        if is_open:
            self.open_since[valve] = at
        elif (since := self.open_since.pop(valve, None)) is not None:
            self.waterings.append(Watering(valve, since, at))

    def marker(self, valve: str, payload: bytes) -> None:
        self.marks[valve] = payload
        self.progress.set()


_RANK = {"device": 0, "valve": 1, "sensor": 2}


class SyncedController(Controller):
    """The real controller, holding what it receives until the driver releases it.

    Only the order in which messages of different connections are handled is fixed here
    (``release``); each is then handled by the controller's own ``on_message``.
    """

    # Every zone a release concerns is decided in it, as the clock stands still.
    defer_in_band = False

    def make_scheduler(self) -> Scheduler:
        return VirtualScheduler(self.farm, self.clock, self.wake)

    def __init__(self, *args: Any, progress: asyncio.Event, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # On the loop's thread, like the nodes' links (firmware_sim.link explains why).
        self.link = LoopLink.replacing(self.link)
        self.up_prefix = f"{self.topics.base}/_sim/up/"
        self.down_topic = f"{self.topics.base}/_sim/down"
        self.link.subscriptions.append((f"{self.up_prefix}+", QOS_COMMAND))
        self.progress = progress
        self.readings_seen: dict[str, int] = defaultdict(int)
        self.marks: dict[str, bytes] = {}
        self._held: list[Message] = []
        # Valve commands published, and how many a marker already follows: a round with no
        # new command needs no marker, and the driver need not wait for the valves.
        self.commands_published = 0
        self._commands_marked = 0
        publish = self.link.publish

        def counted(topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
            if self.topics.device_of(topic, "valve", "command"):
                self.commands_published += 1
            publish(topic, payload, qos, retain)

        self.link.publish = counted  # type: ignore[method-assign]

    async def on_messages(self, messages: Sequence[Message]) -> None:
        for message in messages:
            if message.topic.startswith(self.up_prefix):
                self.marks[message.topic[len(self.up_prefix) :]] = message.payload
            else:
                if sensor := self.topics.device_of(message.topic, "sensor", "reading"):
                    self.readings_seen[sensor] += 1
                self._held.append(message)
        self.progress.set()

    async def release(self, token: bytes, always_mark: bool = False) -> bool:
        """Handle what is held, in a canonical order; if commands went out since the last
        marker (or ``always_mark``), tell the valves with one. Whether a marker went."""
        held, self._held = self._held, []
        await super().on_messages(sorted(held, key=_order))
        if self.commands_published == self._commands_marked and not always_mark:
            return False
        # After every command the handling published: each valve sees it after them.
        self._commands_marked = self.commands_published
        self.link.publish(self.down_topic, token, QOS_COMMAND)
        return True


def _no_delay(_client: Any, _userdata: Any, sock: Any) -> None:
    """Send each small message at once: Nagle's algorithm would hold a marker ~40 ms."""
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _order(message: Message) -> tuple[int, str]:
    parts = message.topic.split("/")
    return (_RANK.get(parts[-3] if len(parts) >= 3 else "", 9), message.topic)


class ClosedLoop:
    """Runs a farm and its controller on a shared virtual clock against a real broker."""

    def __init__(
        self,
        farm: FarmConfig,
        settings: ControllerSettings,
        *,
        start: datetime,
        step_s: float = 300.0,
        seed: int = 1,
        faults: Sequence[FaultSpec] = (),
        daylight: bool = False,
        weather: Weather | None = None,
    ) -> None:
        self.farm = farm
        self.step = timedelta(seconds=step_s)
        self.clock = VirtualClock(start)
        self.topics = Topics(settings.topic_prefix, farm.farm.id)
        self._progress = asyncio.Event()
        self.recorder = ValveRecorder(self.clock, self._progress)
        self.sim = SimFarm(
            farm,
            settings.mqtt,
            self.topics,
            speed=1.0,
            seed=seed,
            clock=self.clock,
            faults=faults,
            daylight=daylight,
            weather=weather,
            valve_observer=self.recorder,
            sync_topic=f"{self.topics.base}/_sim/down",
            link_type=LoopLink,
        )
        self.state = StateStore(settings.resolved_state_db_url())
        self.store = ControlStore(settings.resolved_state_db_url())
        self.controller = SyncedController(
            farm,
            settings,
            self.state,
            self.store,
            self.clock.now,
            progress=self._progress,
        )
        self.observations: list[StepObservation] = []
        self._round = 0
        self._marked: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        for link in [self.controller.link, *(n.link for n in self.sim.nodes())]:
            link.client.on_socket_open = _no_delay
        await self.sim.start()
        self._task = asyncio.create_task(self.controller.run(), name="controller")
        # The first barrier also proves every subscription is in place.
        await self.settle(resend=True)
        deadline = asyncio.get_running_loop().time() + BARRIER_TIMEOUT_S
        while self.controller.scheduler is None:  # reconciled and scheduling
            if self._task.done():
                await self._task  # its error, if it has one
            if self._task.done() or asyncio.get_running_loop().time() > deadline:
                raise RuntimeError("the controller did not start its scheduler")
            await asyncio.sleep(0.01)
        log.info(
            "closed loop: %d zones from %s, steps of %gs",
            len(self.sim.zones),
            self.clock.now().isoformat(),
            self.step.total_seconds(),
        )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.sim.stop()
        self.state.close()
        self.store.close()

    # -- the barrier -------------------------------------------------------------------------

    def _states(self) -> int:
        return sum(v.states_published for v in self.sim.valves())

    async def settle(self, resend: bool = False) -> None:
        """Rounds of markers until the controller and the valves have handled everything."""
        for _ in range(MAX_ROUNDS):
            before = self._states()
            await self._barrier_round(resend)
            if self._states() == before:
                return
        raise RuntimeError(f"no quiet after {MAX_ROUNDS} barrier rounds at {self.clock.now()}")

    async def _barrier_round(self, resend: bool) -> None:
        self._round += 1
        token = str(self._round).encode()
        ctl = self.controller
        # Readings are counted; a valve that spoke since its last marker sends a new one.
        talked = [
            v for v in self.sim.valves() if v.states_published > self._marked.get(v.device, 0)
        ]

        def publish() -> None:
            for valve in talked:
                valve.link.publish(f"{ctl.up_prefix}{valve.device}", token, QOS_COMMAND)
                self._marked[valve.device] = valve.states_published

        def heard() -> bool:
            return all(ctl.readings_seen[s.device] >= s.seq for s in self.sim.sensors()) and all(
                ctl.marks.get(v.device) == token for v in talked
            )

        def done() -> bool:
            return all(self.recorder.marks.get(v.device) == token for v in self.sim.valves())

        publish()
        await self._wait(heard, publish if resend else None, token)
        if await ctl.release(token, always_mark=resend):
            await self._wait(
                done, (lambda: ctl.link.publish(ctl.down_topic, token)) if resend else None, token
            )

    async def _wait(
        self, done: Callable[[], bool], resend: Callable[[], None] | None, token: bytes
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + BARRIER_TIMEOUT_S
        while not done():
            if self._task is not None and self._task.done():
                self._task.result()  # the controller died: say why
                raise RuntimeError("the controller stopped")
            left = deadline - loop.time()
            if left <= 0:
                raise TimeoutError(self._stuck(token))
            self._progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), min(left, RESEND_S))
            if resend is not None and not done():
                resend()

    def _stuck(self, token: bytes) -> str:
        ctl = self.controller
        readings = {
            s.device: (ctl.readings_seen[s.device], s.seq)
            for s in self.sim.sensors()
            if ctl.readings_seen[s.device] < s.seq
        }
        valves = {v.device: self.recorder.marks.get(v.device) for v in self.sim.valves()}
        return (
            f"barrier round {token.decode()} incomplete after {BARRIER_TIMEOUT_S:.0f}s: "
            f"readings behind (seen, sent) {readings}, markers {ctl.marks}, valves {valves}"
        )

    # -- stepping ----------------------------------------------------------------------------

    async def advance(self) -> StepObservation:
        """One step: soil and valve timers to the next step time, readings, decisions."""
        target = self.clock.now() + self.step
        while True:
            before = self._states()
            reached = self.sim.advance(target)
            if self._states() != before:
                # A valve closed itself: the controller hears of it at that very time.
                await self.settle()
                if reached < target:
                    await self._evaluate()
            if reached >= target:
                break
        # The scheduler's sweep (every minute) notices a window opening before the next
        # reading does, so it comes first: zones that start together queue by dryness.
        await self._evaluate()
        self.sim.report()
        await self.settle()
        observation = self.observe()
        self.observations.append(observation)
        return observation

    async def _evaluate(self) -> None:
        """Run what the controller's scheduler has due by now: its tick, sweep, soak ends."""
        scheduler = self.controller.scheduler
        assert isinstance(scheduler, VirtualScheduler)
        sent = self.controller.commands_published
        await scheduler.fire_due()
        if self.controller.commands_published != sent:
            await self.settle()

    async def run_for(self, duration: timedelta) -> None:
        end = self.clock.now() + duration
        while self.clock.now() < end:
            await self.advance()

    def observe(self) -> StepObservation:
        open_zones = [z for z in self.sim.zones if z.valve.is_open]
        return StepObservation(
            self.clock.now(),
            {z.zone.id: z.theta for z in self.sim.zones},
            frozenset(z.zone.id for z in open_zones),
            sum(z.zone.flow_lph for z in open_zones),
        )

    # -- what happened -----------------------------------------------------------------------

    @property
    def commands(self) -> list[CommandSeen]:
        return self.recorder.commands

    def waterings(self) -> list[Watering]:
        """Every stretch a valve was open, including one still open now."""
        now = self.clock.now()
        still = [Watering(v, since, now) for v, since in self.recorder.open_since.items()]
        return [*self.recorder.waterings, *still]

    def daily_minutes(self) -> dict[tuple[str, date], float]:
        """Minutes of water per (zone, local day the stretch started)."""
        zone_of = {z.valve: z.id for z in self.farm.zones}
        out: dict[tuple[str, date], float] = defaultdict(float)
        for w in self.waterings():
            if w.valve in zone_of:
                day = w.start.astimezone(self.farm.farm.tz).date()
                out[(zone_of[w.valve], day)] += w.minutes
        return dict(out)
