"""The MQTT topic contract (docs/protocol.md): one place builds and parses every topic."""

from __future__ import annotations

from dataclasses import dataclass

QOS_READING = 1
QOS_COMMAND = 1
QOS_STATE = 1


@dataclass(frozen=True, slots=True)
class Topics:
    """Topics of one farm under a prefix: ``{prefix}/{farm}/...``."""

    prefix: str
    farm: str

    @property
    def base(self) -> str:
        return f"{self.prefix}/{self.farm}"

    def reading(self, sensor: str) -> str:
        return f"{self.base}/sensor/{sensor}/reading"

    def rain(self, gauge: str) -> str:
        return f"{self.base}/rain/{gauge}/reading"

    def valve_command(self, valve: str) -> str:
        return f"{self.base}/valve/{valve}/command"

    def valve_state(self, valve: str) -> str:
        return f"{self.base}/valve/{valve}/state"

    def availability(self, device: str) -> str:
        return f"{self.base}/device/{device}/availability"

    def alarm(self, source: str) -> str:
        return f"{self.base}/alarm/{source}"

    def controller_decision(self) -> str:
        return f"{self.base}/controller/decision"

    def controller_request(self) -> str:
        return f"{self.base}/controller/request"

    @property
    def all_readings(self) -> str:
        return f"{self.base}/sensor/+/reading"

    @property
    def all_valve_states(self) -> str:
        return f"{self.base}/valve/+/state"

    def device_of(self, topic: str, kind: str, leaf: str) -> str | None:
        """The device id in ``{base}/{kind}/{device}/{leaf}``, or None if the topic is not one."""
        parts = topic.split("/")
        base = self.base.split("/")
        if len(parts) != len(base) + 3 or parts[: len(base)] != base:
            return None
        if parts[len(base)] != kind or parts[-1] != leaf:
            return None
        return parts[len(base) + 1]
