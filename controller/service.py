"""The controller process: live facts from MQTT, the decision core, bounded commands out.

Readings and valve states are evaluated as they arrive (only the zones they concern);
APScheduler wakes the controller for time-based work. Every plan is persisted before its
commands are published, so a restart knows what it had started.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from controller import core, requests
from controller.discovery import HomeAssistantBridge
from controller.metrics import ControllerMetrics
from controller.model import (
    Command,
    Decision,
    FarmFacts,
    Plan,
    Run,
    RunKind,
    RunStatus,
    ValveFacts,
    ZoneFacts,
)
from controller.readings import ReadingBook
from controller.scheduling import ControllerScheduler, Scheduler
from controller.settings import ControllerSettings
from controller.store import AlarmWrite, ControlStore, PlanWrite
from smartfarm import payloads
from smartfarm.config import FarmConfig
from smartfarm.ingest import ReadingParser
from smartfarm.metrics_http import MetricsServer, serve_metrics
from smartfarm.models import Action, DecisionRecord, ValveStatus
from smartfarm.mqtt import Message, MqttLink
from smartfarm.payloads import BadPayload
from smartfarm.stores.state import StateStore
from smartfarm.topics import QOS_COMMAND, QOS_READING, QOS_STATE, Topics

log = logging.getLogger(__name__)
# After connecting, wait this long for the valves' retained states before reconciling.
RECONCILE_WAIT_S = 5.0
# Decision codes of a zone that is dry but waiting, and of one that is not (or cannot tell).
DRY_WAITING = frozenset(
    {
        "outside_window",
        "min_off",
        "rain",
        "daily_limit",
        "paused",
        "manual_hold",
        "pump_busy",
        "pump_starting",
        "queued",
    }
)
NOT_DRY = frozenset({"in_band", "no_reading", "sensor_stale", "sensor_fault"})
# The same hold or skip of a zone is logged at most this often, even if its reading flickers
# across a threshold (probe noise would otherwise fill the log).
LOG_REPEAT = timedelta(minutes=30)
# A person's request older than this (it waited at the broker while we were down) is stale.
REQUEST_MAX_AGE = timedelta(minutes=2)
# Messages taken in one go: a burst is absorbed, then its zones are decided together and the
# plan persisted in one transaction. Bounded so the first reading of a long backlog is not
# kept waiting behind all the others.
MAX_BATCH = 500
# The sweep decides this many zones at a time and lets readings in between: deciding 10,000
# zones in one go holds everything else up for a quarter of a second.
SWEEP_SLICE = 500
UNKNOWN_VALVE = ValveFacts(ValveStatus.UNKNOWN)
# Rain reports kept in memory: the longest rain window (168 h), also what a restart loads.
RAIN_KEPT = timedelta(days=7)


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex[:16]


class Controller:
    # In ``run``, decide the zones a message left in band only when no message waits.
    defer_in_band: ClassVar[bool] = True

    def __init__(
        self,
        farm: FarmConfig,
        settings: ControllerSettings,
        state: StateStore,
        store: ControlStore,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.farm = farm
        self.settings = settings
        self.limits = settings.limits()
        self.state = state
        self.store = store
        self.clock = clock
        self.topics = Topics(settings.topic_prefix, farm.farm.id)
        self.zones = {z.id: z for z in farm.zones}
        self.readings = ReadingBook(farm, clock())
        self.parser = ReadingParser(farm, self.topics)
        self.valves: dict[str, ValveFacts] = {}
        self.master_pending_since: datetime | None = None
        self.runs: dict[str, Run] = {}
        self.overrides: dict[str, tuple[datetime | None, datetime | None]] = {}
        self.day_start = self._local_midnight(clock())
        self.delivered: dict[str, tuple[float, float]] = {}
        self.last_end: dict[str, datetime] = {}
        self.fired: dict[str, set[str]] = {}
        self.alarms_on: set[tuple[str, str | None]] = set()
        self.rain: list[tuple[datetime, float]] = []
        self._last_logged: dict[str, tuple[Action, str]] = {}
        self._lock = asyncio.Lock()
        self.scheduler: Scheduler | None = None
        valves = [z.valve for z in farm.zones] + [v for v in [farm.farm.pump.master_valve] if v]
        self._valve_zone = {z.valve: z.id for z in farm.zones}
        self._zone_flow = {z.id: z.flow_lph for z in farm.zones}  # a property: computed once
        self._valve_ids = set(valves)
        self._open_valves: set[str] = set()
        # Flow of the zone valves that report open, kept as they change: every evaluation
        # needs the flow in use, and summing it there cost more than the rest of a reading.
        self._open_flow = 0.0
        self.link = MqttLink(
            settings.mqtt,
            settings.client_id,
            subscriptions=[
                (self.topics.all_readings, QOS_READING),
                (self.topics.all_valve_states, QOS_STATE),
                (self.topics.availability("+"), QOS_STATE),
                (self.topics.controller_request(), QOS_COMMAND),
            ],
            # The broker keeps requests (and readings) for us while we restart; a request
            # that waited too long is refused by its age, not lost silently.
            clean_session=False,
        )
        self.gauge = farm.farm.rain_sensor
        self._rain_topic = self.topics.rain(self.gauge) if self.gauge else None
        if self._rain_topic:
            self.link.subscriptions.append((self._rain_topic, QOS_READING))
        self._new_rain: list[tuple[datetime, float, str]] = []
        # Home Assistant MQTT discovery (controller/discovery.py), when the farm uses it.
        self.ha = (
            HomeAssistantBridge(farm, self.topics, self.link) if settings.home_assistant else None
        )
        if self.ha is not None:
            self.link.subscriptions += self.ha.subscriptions()
        self._deferred: list[Message] = []
        self._dry: set[str] = set()
        self._logged_at: dict[tuple[str, str], datetime] = {}
        self._rain_to_write: list[tuple[datetime, float, str]] = []
        # Zones whose news put them in band, not yet decided: the main loop decides them
        # when no message waits, so a burst's in-band readings never delay one that acts.
        # Off until ``run`` (tests and the virtual clock decide every message at once).
        self._backlog: dict[str, float] = {}
        self._backlog_on = False
        self.metrics = ControllerMetrics(self._gauges)
        self.metrics_server: MetricsServer | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def load(self) -> None:
        """Read what survives a restart: runs under way, pauses, today's water, rain."""
        self.runs = {r.id: r for r in self.store.active_runs()}
        self.overrides = self.store.overrides()
        self.delivered = self.store.delivered_since(self.day_start)
        self.last_end = self.store.last_run_ends()
        self.rain = self.store.rain_since(self.clock() - RAIN_KEPT)
        self.alarms_on = {(a.kind, a.zone) for a in self.state.alarms() if a.source == "controller"}
        for run in self.runs.values():
            if run.schedule_key:
                self.fired.setdefault(run.zone, set()).add(run.schedule_key)

    async def run(self, scheduled: bool = True) -> None:
        await asyncio.to_thread(self.load)
        if self.settings.controller_metrics_port:
            self.metrics_server = serve_metrics(
                "controller",
                self.settings.controller_metrics_host,
                self.settings.controller_metrics_port,
                self.metrics.text,
                self.health,
            )
        await self.link.start()
        if self.ha is not None:
            self.ha.publish_discovery()
        await self._await_valve_states()
        await self.reconcile()
        await self.on_messages(self._deferred)  # requests that came while we reconciled
        self._deferred.clear()
        if scheduled:
            self.scheduler = self.make_scheduler()
            self.scheduler.start(self.settings.evaluate_seconds, self.settings.sweep_seconds)
        log.info("controller: %d zones, %d runs resumed", len(self.zones), len(self.runs))
        # The farm and its state are loaded: tens of thousands of objects that live as long
        # as the process. Frozen, the collector stops walking them on every full collection,
        # which otherwise stalls a reading for tens of milliseconds at 10,000 zones.
        gc.collect()
        gc.freeze()
        inbox = self.link.messages
        self._backlog_on = self.defer_in_band
        try:
            while True:
                if inbox.empty() and self._backlog:
                    await self._decide_backlog()
                    continue
                batch = [await inbox.get()]
                while len(batch) < MAX_BATCH and not inbox.empty():
                    batch.append(inbox.get_nowait())
                await self.on_messages(batch)
        finally:
            if self.scheduler is not None:
                self.scheduler.shutdown()
            await self.link.stop()
            if self.metrics_server is not None:
                self.metrics_server.stop()

    def make_scheduler(self) -> Scheduler:
        """APScheduler on the wall clock, its job store in the state database."""
        return ControllerScheduler(self.farm, self.settings.resolved_state_db_url(), self.wake)

    async def _await_valve_states(self) -> None:
        deadline = asyncio.get_running_loop().time() + RECONCILE_WAIT_S
        while asyncio.get_running_loop().time() < deadline:
            while not self.link.messages.empty():
                message = self.link.messages.get_nowait()
                if message.topic == self.topics.controller_request() or (
                    self.ha is not None and self.ha.is_command(message.topic)
                ):
                    self._deferred.append(message)
                else:
                    self._absorb(message)
            if self._valve_ids <= set(self.valves):
                return
            await asyncio.sleep(0.05)

    async def reconcile(self) -> None:
        async with self._lock:
            now = self.clock()
            active_zones = {r.zone for r in self.runs.values()}
            facts = {z: self.zone_facts(z, now) for z in active_zones}
            plan = core.reconcile(facts, self.runs, self.farm_facts(now))
            await self._apply(plan, now)
        await self.evaluate(None)

    # -- incoming --------------------------------------------------------------------------

    async def on_message(self, message: Message) -> None:
        await self.on_messages([message])

    async def on_messages(self, messages: Sequence[Message]) -> None:
        """Take in messages in order; the zones they concern are decided together.

        A person's request is handled in its place: what came before it is decided first.
        """
        changed: dict[str, float] = {}  # zone: when the first message about it arrived
        if self.ha is not None:
            messages = self.ha.translate(messages, self.clock())
        for message in messages:
            if message.topic == self.topics.controller_request():
                if changed:
                    await self._decide(changed)
                    changed = {}
                await self._on_request(message.payload)
            elif (zone := self._absorb(message)) is not None:
                changed.setdefault(zone, message.received)
        if self._new_rain:
            await self._take_rain()
        if changed:
            await self._decide(changed)

    async def _decide(self, changed: dict[str, float]) -> None:
        """Decide the zones a batch changed, those that may act first.

        In a burst of a thousand readings, the few that cross a threshold (or belong to a
        run under way) should not wait behind the in-band ones; the order changes nothing
        else, since each zone is decided on its own facts.
        """
        running = {r.zone for r in self.runs.values()}
        first = {z: t for z, t in changed.items() if z in running or self._outside_band(z)}
        if first:
            await self.evaluate(list(first), first)
        rest = {z: t for z, t in changed.items() if z not in first}
        if self._backlog_on:
            # The main loop decides these once no message waits (``_decide_backlog``).
            for zone, arrived in rest.items():
                self._backlog.setdefault(zone, arrived)
        elif rest:
            await self.evaluate(list(rest), rest)

    async def _decide_backlog(self) -> None:
        """Decide a slice of the in-band zones whose news was put off for busier ones."""
        zones = list(itertools.islice(self._backlog, SWEEP_SLICE))
        taken = {z: self._backlog.pop(z) for z in zones}
        await self.evaluate(zones, taken)

    def _outside_band(self, zone_id: str) -> bool:
        zone = self.zones[zone_id]
        t = zone.effective_thresholds
        for sensor in zone.sensors:
            reading = self.readings.good.get(sensor)
            if reading is None or not t.start <= reading.vwc < t.stop:
                return True
        return False

    def _absorb(self, message: Message) -> str | None:
        """Take in a reading, a valve state or rain; the zone it concerns, if any."""
        if self.topics.device_of(message.topic, "sensor", "reading"):
            try:
                reading = self.parser.parse(message.topic, message.payload, self.clock())
            except BadPayload:
                return None  # the gateway dead-letters it with the reason
            return self.readings.add(reading)
        if valve := self.topics.device_of(message.topic, "valve", "state"):
            return self._on_valve_state(valve, message.payload)
        if message.topic == self._rain_topic:
            self._on_rain_gauge(message.payload)
            return None
        device = self.topics.device_of(message.topic, "device", "availability")
        if device in self._valve_ids and message.payload == b"offline":
            assert device is not None
            known = self.valves.get(device, UNKNOWN_VALVE)
            self.valves[device] = ValveFacts(ValveStatus.OFFLINE, known.command_id, ts=self.clock())
            self._set_open(device, False)
            return self._valve_zone.get(device)
        return None

    def _on_valve_state(self, valve: str, payload: bytes) -> str | None:
        if valve not in self._valve_ids:
            return None
        try:
            data = payloads.decode("valve-state.v1", payload)
        except BadPayload as err:
            log.warning("controller: bad state from valve %s: %s", valve, err)
            return None

        def ts(key: str) -> datetime | None:
            return payloads.parse_ts(data[key]) if data.get(key) else None

        status = ValveStatus(data["state"])
        self._set_open(valve, status is ValveStatus.OPEN)
        self.valves[valve] = ValveFacts(
            status,
            data.get("command_id"),
            ts("since"),
            ts("until"),
            ts("ts"),
            flow_lph=data.get("flow_lph"),
        )
        if valve == self.farm.farm.pump.master_valve and status is ValveStatus.OPEN:
            self.master_pending_since = None
        self._clear_alarm_later("valve_fault", self._valve_zone.get(valve))
        return self._valve_zone.get(valve)

    def _on_rain_gauge(self, payload: bytes) -> None:
        try:
            data = payloads.decode("rain.v1", payload)
            if data["device"] != self.gauge:
                raise BadPayload("device_mismatch", f"payload device {data['device']!r}")
            ts = payloads.parse_ts(data["ts"])
            payloads.check_reading_time(ts, self.clock())
        except BadPayload as err:
            log.warning("controller: ignored bad report from rain gauge %s: %s", self.gauge, err)
            return
        mm = float(data["mm"])
        # A report replayed after an outage, or delivered twice (QoS 1), has the same time.
        if mm <= 0 or any(t == ts for t, _ in self.rain):
            return
        self.rain.append((ts, mm))
        self._new_rain.append((ts, mm, f"rain gauge {self.gauge}"))

    async def _take_rain(self) -> None:
        """Persist and log the rain the gauge reported: it holds or shortens every zone."""
        new, self._new_rain = self._new_rain, []
        now = self.clock()
        records = [
            DecisionRecord(
                now,
                "*",
                Action.HOLD,
                f"{mm:.1f} mm of rain at {ts.astimezone(self.farm.farm.tz):%H:%M}",
                by,
                code="rain_reported",
            )
            for ts, mm, by in new
        ]

        await asyncio.to_thread(self._write, PlanWrite(now, rain=new, decisions=records))
        for record in records:
            log.info("controller: *: %s (%s)", record.reason, record.by)
            self._publish_decision(record)

    async def _on_request(self, payload: bytes) -> None:
        try:
            req = payloads.decode("controller-request.v1", payload)
            if "zone" in req and req["zone"] not in self.zones:
                raise BadPayload("unknown_zone", f"zone {req['zone']!r} is not in the farm")
        except BadPayload as err:
            log.warning("controller: ignored bad request: %s", err)
            return
        async with self._lock:
            now = self.clock()
            issued = payloads.parse_ts(req["issued"]) if req.get("issued") else now
            if now - issued > REQUEST_MAX_AGE:
                await self._refuse_stale(req, issued, now)
                return
            plan = self._request_plan(req, now)
            await self._evaluate_locked(
                None
                if req["action"] == "water_everything"
                else [req["zone"]]
                if "zone" in req
                else None,
                now,
                plan,
            )

    async def _refuse_stale(self, req: dict[str, Any], issued: datetime, now: datetime) -> None:
        zone = str(req.get("zone") or "*")
        local = issued.astimezone(self.farm.farm.tz)
        reason = (
            f"{req['action']} asked by {req['by']} at {local:%H:%M} arrived "
            f"{(now - issued).total_seconds() / 60:.0f} min late: not done"
        )
        log.warning("controller: %s", reason)
        record = DecisionRecord(
            now, zone, Action.SKIP, reason, str(req["by"]), code="request_stale"
        )
        await asyncio.to_thread(self.state.add_decisions, [record])
        self._publish_decision(record)

    def _request_plan(self, req: dict[str, Any], now: datetime) -> Plan:
        action, by = str(req["action"]), str(req["by"])
        farm = self.farm_facts(now)
        if action == "rain":
            mm = float(req["mm"])
            self._rain_to_write.append((now, mm, by))  # durable with the plan it makes
            self.rain.append((now, mm))
            reason = f"{mm:.1f} mm of rain reported"
            return Plan(decisions=[Decision("*", Action.HOLD, "rain_reported", reason, by=by)])
        if action == "water_everything":
            facts = {z: self.zone_facts(z, now) for z in self.zones}
            return requests.water_everything(
                facts, self.runs, farm, new_id, int(req["minutes"]), by
            )
        z = self.zone_facts(str(req["zone"]), now)
        if action == "water_now":
            return requests.water_now(z, self.runs, farm, new_id, int(req["minutes"]), by)
        if action == "stop":
            hold = timedelta(minutes=self.settings.manual_stop_hold_minutes)
            return requests.stop(z, self.runs, farm, new_id, by, hold)
        if action == "pause":
            return requests.pause(
                z, self.runs, farm, new_id, by, payloads.parse_ts(str(req["until"]))
            )
        return requests.resume(z, by)

    # -- evaluation ------------------------------------------------------------------------

    async def evaluate(
        self, zones: Sequence[str] | None = None, received: dict[str, float] | None = None
    ) -> Plan:
        """Decide these zones (``[]``: the runs under way; ``None``: every zone) and act.

        ``received``: when each zone's news arrived, for the latency of what it causes.
        """
        async with self._lock:
            return await self._evaluate_locked(zones, self.clock(), None, received)

    async def wake(self, zones: Sequence[str] | None) -> None:
        """The scheduler's call: the sweep (``None``) goes in slices, readings in between."""
        if zones is not None:
            await self.evaluate(zones)
            return
        await self.evaluate([])
        ids = list(self.zones)
        for i in range(0, len(ids), SWEEP_SLICE):
            await asyncio.sleep(0)  # let the readings that came meanwhile be taken in
            await self.evaluate(ids[i : i + SWEEP_SLICE])

    async def _evaluate_locked(
        self,
        zones: Sequence[str] | None,
        now: datetime,
        plan: Plan | None,
        received: dict[str, float] | None = None,
    ) -> Plan:
        self._roll_day(now)
        if plan is not None:
            # A request's effects on pauses and holds apply to this very evaluation.
            self._apply_overrides(plan)
        consider = set(self.zones if zones is None else zones)
        if not zones:
            # The tick ([]) and the sweep (None) move every run under way on; a reading moves
            # only its own zone's, so its cost follows the zones that changed, not the farm.
            consider |= {r.zone for r in self.runs.values()}
        if plan is not None:
            consider |= {r.zone for r in plan.runs.values()}
        farm = self.farm_facts(now)
        # Queued runs compete for the pump in every evaluation, so admission needs their facts.
        queued = {r.zone for r in self.runs.values() if r.status is RunStatus.QUEUED}
        facts = {z: self.zone_facts(z, now) for z in consider | queued}
        if self.ha is not None:
            self.ha.publish_zone_states({z: f.moisture for z, f in facts.items()}, now)
        first = core.evaluate(facts, self.runs, farm, self.limits, new_id, consider, plan)
        waiting = self._dry - consider
        if plan is None and waiting and self._starts_auto(first, now):
            # A zone is about to take the pump: let the other dry zones compete for it, so the
            # driest goes first rather than the one whose reading came in first. The core is
            # pure, so the first plan is simply dropped.
            consider |= waiting
            facts.update({z: self.zone_facts(z, now) for z in waiting})
            first = core.evaluate(facts, self.runs, farm, self.limits, new_id, consider)
        self._track_dry(first)
        await self._apply(first, now, received)
        return first

    def _starts_auto(self, plan: Plan, now: datetime) -> bool:
        return any(r.kind is RunKind.AUTO and r.created_at == now for r in plan.runs.values())

    def _track_dry(self, plan: Plan) -> None:
        """Remember the zones that are dry but waiting (for a window, a rest, the pump)."""
        for d in plan.decisions:
            if d.code in DRY_WAITING:
                self._dry.add(d.zone)
            elif d.code in NOT_DRY:
                self._dry.discard(d.zone)

    def zone_facts(self, zone_id: str, now: datetime) -> ZoneFacts:
        zone = self.zones[zone_id]
        m = self.readings.zone(zone, now, self.limits.stale_after_s)
        paused, hold = self.overrides.get(zone_id, (None, None))
        seconds, litres = self.delivered.get(zone_id, (0.0, 0.0))
        return ZoneFacts(
            config=zone,
            moisture=m.moisture,
            moisture_age_s=m.age_s,
            no_good_reading_s=m.no_good_s,
            valve=self._valve_facts(zone.valve, zone_id),
            delivered_today_s=seconds,
            delivered_today_l=litres,
            last_run_ended_at=self.last_end.get(zone_id),
            paused_until=paused,
            hold_until=hold,
            schedule_fired=frozenset(self.fired.get(zone_id, ())),
            drying_per_h=m.drying_per_h,
        )

    def _valve_facts(self, valve: str, zone: str | None) -> ValveFacts:
        facts = self.valves.get(valve, UNKNOWN_VALVE)
        if ("valve_fault", zone) not in self.alarms_on:
            return facts  # as the valve last said (kept facts are never marked faulty)
        return replace(facts, faulty=True)

    def _set_open(self, valve: str, is_open: bool) -> None:
        if is_open == (valve in self._open_valves):
            return
        if is_open:
            self._open_valves.add(valve)
        else:
            self._open_valves.discard(valve)
        # Summed afresh (on a change of state, not per reading): adding and subtracting
        # floats would drift, and a pump filled exactly to capacity must stay admissible.
        self._open_flow = sum(
            self._zone_flow[z] for v in self._open_valves if (z := self._valve_zone.get(v))
        )

    def farm_facts(self, now: datetime) -> FarmFacts:
        info = self.farm.farm
        # Open valves, plus the zones whose open is sent but not yet confirmed.
        in_use = self._open_flow + sum(
            self._zone_flow[r.zone]
            for r in self.runs.values()
            if r.status is RunStatus.OPENING and self.zones[r.zone].valve not in self._open_valves
        )
        window = timedelta(hours=info.rain.window_hours)
        rain = sum(mm for ts, mm in self.rain if ts >= now - window)
        master = None
        if info.pump.master_valve:
            known = self.valves.get(info.pump.master_valve, UNKNOWN_VALVE)
            master = ValveFacts(
                known.status,
                known.command_id,
                known.since,
                known.until,
                known.ts,
                pending_since=self.master_pending_since,
            )
        return FarmFacts(now=now, info=info, flow_in_use_lph=in_use, rain_mm=rain, master=master)

    def _roll_day(self, now: datetime) -> None:
        midnight = self._local_midnight(now)
        if midnight != self.day_start:
            self.day_start = midnight
            self.delivered = {}
            self.fired = {}
            # Every evaluation sums the rain in memory: keep only what can still count (the
            # rain window is at most a week) and what a replay could repeat.
            self.rain = [(ts, mm) for ts, mm in self.rain if ts >= now - RAIN_KEPT]

    def _local_midnight(self, now: datetime) -> datetime:
        local = now.astimezone(self.farm.farm.tz)
        return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)

    # -- watching ---------------------------------------------------------------------------

    def _gauges(self) -> dict[str, tuple[str, float]]:
        """Read from the metrics thread: only whole-object reads of what the loop writes."""
        runs = list(self.runs.values())
        queued = sum(1 for r in runs if r.status is RunStatus.QUEUED)
        return {
            "runs_active": ("Runs under way: opening, running, soaking", len(runs) - queued),
            "runs_queued": ("Runs waiting for the pump", queued),
            "valves_open": ("Zone valves that report open", len(self._open_valves)),
            "flow_in_use_lph": ("Flow of the open zone valves, L/h", self._open_flow),
            "alarms_active": ("Alarms raised by the controller, not cleared", len(self.alarms_on)),
            "inbox_depth": ("Messages received, not yet taken in", self.link.messages.qsize()),
            "mqtt_connected": ("1 while connected to the broker", float(self.link.connected)),
        }

    def health(self) -> list[str]:
        """What is wrong, in words a technician can act on; empty when all is well."""
        out = []
        if not self.link.connected:
            out.append("not connected to the MQTT broker: valves cannot be commanded")
        faulty = sorted(z or "farm" for kind, z in self.alarms_on if kind == "valve_fault")
        if faulty:
            out.append(f"valves not answering in zones {', '.join(faulty)}")
        return out

    # -- applying a plan -------------------------------------------------------------------

    def _apply_overrides(self, plan: Plan) -> None:
        for zone, until in plan.pauses.items():
            self.overrides[zone] = (until, self.overrides.get(zone, (None, None))[1])
        for zone, until in plan.holds.items():
            self.overrides[zone] = (self.overrides.get(zone, (None, None))[0], until)

    async def _apply(
        self, plan: Plan, now: datetime, received: dict[str, float] | None = None
    ) -> None:
        self._apply_overrides(plan)
        for run in plan.runs.values():
            if run.status.active:
                self.runs[run.id] = run
            else:
                self.runs.pop(run.id, None)
                if run.delivered_s > 0 and run.ended_at:
                    self.last_end[run.zone] = run.ended_at
            if run.schedule_key:
                self.fired.setdefault(run.zone, set()).add(run.schedule_key)
        for cycle in plan.cycles:
            s, litres = self.delivered.get(cycle.zone, (0.0, 0.0))
            self.delivered[cycle.zone] = (s + cycle.seconds, litres + cycle.litres)
        records = self._records(plan, now)
        alarms = self._alarm_changes(plan)
        rain, self._rain_to_write = self._rain_to_write, []
        changed_overrides = {*plan.pauses, *plan.holds}
        write = PlanWrite(
            now,
            runs=list(plan.runs.values()),
            cycles=plan.cycles,
            overrides={z: self.overrides.get(z, (None, None)) for z in changed_overrides},
            rain=rain,
            decisions=records,
            alarms=alarms,
        )
        if write:
            # Durable before anything moves, in one transaction: a restart then knows what
            # was started, and never finds a run without the decision that made it.
            await asyncio.to_thread(self._write, write)
        for command in plan.commands:
            self._publish_command(command, now, received)
        for record in records:
            self._publish_decision(record)
        for a in alarms:
            self._publish_alarm(a.kind, a.zone, a.message, a.raised, now)
        for run in plan.runs.values():
            if run.status is RunStatus.SOAKING and run.soak_until and self.scheduler:
                self.scheduler.wake_at(run.soak_until, run.zone, run.id)

    def _write(self, write: PlanWrite) -> None:
        started = time.perf_counter()
        self.store.write(write)
        self.metrics.write_seconds.observe(time.perf_counter() - started)

    def _records(self, plan: Plan, now: datetime) -> list[DecisionRecord]:
        """Decisions worth logging: every action, and a hold or skip when its rule changes."""
        out = []
        for d in plan.decisions:
            key = (d.action, d.code)
            moving = d.action in (Action.OPEN, Action.CLOSE) or d.by != "controller"
            if not moving:
                if self._last_logged.get(d.zone) == key:
                    continue
                last = self._logged_at.get((d.zone, d.code))
                if last is not None and now - last < LOG_REPEAT:
                    continue  # flickering between two holds: said recently enough
            self._last_logged[d.zone] = key
            self._logged_at[(d.zone, d.code)] = now
            log.info("controller: %s: %s: %s", d.zone, d.action.value, d.reason)
            out.append(
                DecisionRecord(
                    now,
                    d.zone,
                    d.action,
                    d.reason,
                    d.by,
                    d.command_id,
                    d.duration_s,
                    d.code,
                    d.run_id,
                )
            )
        return out

    def _alarm_changes(self, plan: Plan) -> list[AlarmWrite]:
        changes = []
        for a in plan.alarms:
            key = (a.kind, a.zone)
            if a.raised and key not in self.alarms_on:
                self.alarms_on.add(key)
                changes.append(AlarmWrite(a.kind, a.zone, a.message, True))
            elif not a.raised and key in self.alarms_on:
                self.alarms_on.discard(key)
                changes.append(AlarmWrite(a.kind, a.zone, a.message, False))
        return changes

    def _clear_alarm_later(self, kind: str, zone: str | None) -> None:
        if (kind, zone) in self.alarms_on:
            self.alarms_on.discard((kind, zone))
            now = self.clock()
            self._publish_alarm(kind, zone, "the valve answers again", False, now)
            asyncio.get_running_loop().create_task(
                asyncio.to_thread(self.state.clear_alarm, "controller", kind, now, zone)
            )

    def _publish_command(
        self, command: Command, now: datetime, received: dict[str, float] | None = None
    ) -> None:
        body: dict[str, object] = {
            "v": 1,
            "id": command.command_id,
            "action": command.action.value,
            "issued": payloads.format_ts(now),
            "reason": command.reason[:200],
        }
        if command.action is Action.OPEN:
            assert command.duration_s and command.duration_s > 0  # never unbounded
            body["duration_s"] = command.duration_s
            if command.valve == self.farm.farm.pump.master_valve:
                self.master_pending_since = now
        self.link.publish(
            self.topics.valve_command(command.valve), payloads.encode(body), QOS_COMMAND
        )
        self.metrics.commands.labels(command.action.value).inc()
        zone = self._valve_zone.get(command.valve)
        arrived = received.get(zone) if received and zone else None
        if arrived:
            self.metrics.reading_to_command.observe(time.monotonic() - arrived)

    def _publish_decision(self, r: DecisionRecord) -> None:
        body = {
            "v": 1,
            "ts": payloads.format_ts(r.ts),
            "zone": r.zone,
            "action": r.action.value,
            "code": r.code,
            "reason": r.reason,
            "by": r.by,
            "run_id": r.run_id,
            "command_id": r.command_id,
            "duration_s": r.duration_s,
        }
        self.link.publish(self.topics.controller_decision(), payloads.encode(body), QOS_COMMAND)

    def _publish_alarm(
        self, kind: str, zone: str | None, message: str, raised: bool, now: datetime
    ) -> None:
        body = {
            "v": 1,
            "ts": payloads.format_ts(now),
            "source": "controller",
            "kind": kind,
            "zone": zone,
            "state": "raised" if raised else "cleared",
            "message": message,
        }
        self.link.publish(self.topics.alarm("controller"), payloads.encode(body), QOS_COMMAND)
