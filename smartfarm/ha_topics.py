"""Topics of the Home Assistant bridge: discovery configs, zone states, zone commands.

Shared by the controller (which publishes and obeys them) and the broker ACL generator
(which lets Home Assistant read and write exactly these), so both agree on one tree.
"""

from __future__ import annotations

from dataclasses import dataclass

from smartfarm.topics import Topics


@dataclass(frozen=True, slots=True)
class HaTopics:
    """``{discovery}/...`` for configs; zone state and commands under the farm's base."""

    topics: Topics
    discovery_prefix: str = "homeassistant"

    def config(self, component: str, object_id: str) -> str:
        """Where a discovery config goes: ``{discovery}/{component}/{node}/{object}/config``."""
        return f"{self.discovery_prefix}/{component}/{self.node_id}/{object_id}/config"

    @property
    def node_id(self) -> str:
        # Home Assistant allows [a-zA-Z0-9_-] here; farm ids already are.
        return f"smartfarm_{self.topics.farm}"

    @property
    def all_configs(self) -> str:
        return f"{self.discovery_prefix}/+/{self.node_id}/+/config"

    @property
    def status(self) -> str:
        """Home Assistant's birth and last will (``online``/``offline``)."""
        return f"{self.discovery_prefix}/status"

    def zone_state(self, zone: str) -> str:
        """The controller's view of a zone (median moisture of good readings), retained."""
        return f"{self.topics.base}/zone/{zone}/state"

    @property
    def all_zone_states(self) -> str:
        return f"{self.topics.base}/zone/+/state"

    def zone_command(self, zone: str) -> str:
        """Home Assistant's open/close of a zone's valve; the controller checks its limits."""
        return f"{self.topics.base}/controller/ha/{zone}/set"

    @property
    def all_zone_commands(self) -> str:
        return f"{self.topics.base}/controller/ha/+/set"

    def zone_of_command(self, topic: str) -> str | None:
        """The zone id in a zone command topic, or None if the topic is not one."""
        head = f"{self.topics.base}/controller/ha/"
        if not topic.startswith(head) or not topic.endswith("/set"):
            return None
        zone = topic[len(head) : -len("/set")]
        return zone if zone and "/" not in zone else None
