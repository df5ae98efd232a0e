"""What every route module needs: the farm, the stores, the broker link, the live view."""

from __future__ import annotations

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

    def zone(self, zone_id: str) -> ZoneConfig:
        try:
            return self.farm.zone(zone_id)
        except KeyError:
            raise problem(404, "no_such_zone", f"Zone {zone_id!r} does not exist.") from None

    def tuned(self, zone: ZoneConfig) -> ZoneConfig:
        """The zone as the controller uses it: the farm config plus a technician's changes."""
        return tuned_zone(zone, self.tuning.get(zone.id))

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
