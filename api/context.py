"""What every route module needs: the farm, the stores, the broker link, the live view."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from api import schemas
from api.errors import problem
from api.events import EventHub
from api.live import LiveState
from api.ratelimit import LoginLimiter
from controller.store import ControlStore
from controller.tuning import TuningStore, tuned_zone, tuning_topic
from smartfarm import payloads
from smartfarm.agronomy import Thresholds
from smartfarm.config import FarmConfig, ZoneConfig
from smartfarm.mqtt import MqttLink
from smartfarm.settings import ApiSettings
from smartfarm.stores.base import TelemetryStore
from smartfarm.stores.state import StateStore
from smartfarm.stores.users import User, UserStore
from smartfarm.topics import QOS_COMMAND, Topics

TUNING_CACHE_S = 2.0


@dataclass
class ApiContext:
    farm: FarmConfig
    settings: ApiSettings
    telemetry: TelemetryStore
    state: StateStore
    control: ControlStore
    users: UserStore
    tuning: TuningStore
    topics: Topics
    link: MqttLink
    live: LiveState
    hub: EventHub
    limiter: LoginLimiter = field(default_factory=LoginLimiter)
    # Every zone-status request needs every zone's tuning: read once a few seconds, and
    # again at once after a change through this API.
    _tuning: tuple[float, dict[str, dict[str, Any]]] | None = None
    _tuned: dict[tuple[str, str], ZoneConfig] = field(default_factory=dict)

    def zone(self, zone_id: str) -> ZoneConfig:
        try:
            return self.farm.zone(zone_id)
        except KeyError:
            raise problem(404, "no_such_zone", f"Zone {zone_id!r} does not exist.") from None

    def zone_tuning(self, zone_id: str) -> dict[str, Any]:
        cached = self._tuning
        if cached is None or time.monotonic() - cached[0] > TUNING_CACHE_S:
            cached = self._tuning = (time.monotonic(), self.tuning.all())
        return dict(cached[1].get(zone_id, {}))

    def set_zone_tuning(self, zone_id: str, changes: dict[str, Any], user: User) -> None:
        self.tuning.put(zone_id, changes, user.username)
        self._tuning = None
        self.notify_tuning(user)

    def tuned(self, zone: ZoneConfig) -> ZoneConfig:
        """The zone as the controller uses it: the farm config plus a technician's changes."""
        changes = self.zone_tuning(zone.id)
        if not changes:
            return zone
        # Validating a zone costs more than serving it: same changes, same zone.
        key = (zone.id, json.dumps(changes, sort_keys=True))
        if key not in self._tuned:
            if len(self._tuned) > 256:
                self._tuned.clear()
            self._tuned[key] = tuned_zone(zone, changes)
        return self._tuned[key]

    def thresholds(self, zone: ZoneConfig) -> Thresholds:
        return self.tuned(zone).effective_thresholds

    def notify_tuning(self, user: User) -> None:
        """Tell the controller a zone's tuning changed (retained: a restarting one sees it too)."""
        body = {"v": 1, "by": user.username, "at": payloads.format_ts(datetime.now(UTC))}
        if self.link.connected:
            self.link.publish(tuning_topic(self.topics), payloads.encode(body), QOS_COMMAND, True)

    def audit(self, user: User, action: str, target: str, before: Any, after: Any) -> None:
        """Every state-changing request: who, what, on what, before and after."""
        self.users.audit(datetime.now(UTC), user.username, action, target, before, after)

    def ask_controller(self, user: User, action: str, **fields: object) -> schemas.Accepted:
        """Ask the controller; it applies the safety limits and logs the outcome."""
        if not self.link.connected:
            raise problem(
                503, "broker_unreachable", "Not connected to the farm's broker; try again shortly."
            )
        body: dict[str, object] = {
            "v": 1,
            "id": uuid.uuid4().hex[:16],
            "action": action,
            "by": user.username,
            "issued": payloads.format_ts(datetime.now(UTC)),
        }
        body.update({k: v for k, v in fields.items() if v is not None})
        self.link.publish(self.topics.controller_request(), payloads.encode(body), QOS_COMMAND)
        return schemas.Accepted(request_id=str(body["id"]))
