"""The controller with a technician's tuning: thresholds and programs from the state database.

A subclass, so the rule service stays as it is: it starts from the tuned farm and
re-reads the tuning when the API says it changed (a retained message on
``{prefix}/{farm}/controller/tuning``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from controller.service import Controller, utc_now
from controller.settings import ControllerSettings
from controller.store import ControlStore
from controller.tuning import TuningStore, tuned_farm, tuning_topic
from smartfarm.config import FarmConfig
from smartfarm.mqtt import Message
from smartfarm.stores.state import StateStore
from smartfarm.topics import QOS_STATE

log = logging.getLogger(__name__)


class TunedController(Controller):
    def __init__(
        self,
        farm: FarmConfig,
        settings: ControllerSettings,
        state: StateStore,
        store: ControlStore,
        tuning: TuningStore,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.file_farm = farm
        self.tuning = tuning
        super().__init__(tuned_farm(farm, tuning.all()), settings, state, store, clock)
        self.tuning_topic = tuning_topic(self.topics)
        self.link.subscriptions.append((self.tuning_topic, QOS_STATE))

    async def on_message(self, message: Message) -> None:
        if message.topic == self.tuning_topic:
            self.retune()
            await self.evaluate(None)  # at once with the new values
            return
        await super().on_message(message)

    def _absorb(self, message: Message) -> str | None:
        # Also reached while the controller waits for valve states at start: keep the news.
        if message.topic == self.tuning_topic:
            self.retune()
            return None
        return super()._absorb(message)

    def retune(self) -> None:
        """Use the zones as tuned now.

        A swap of whole values: an evaluation under way finishes with the old zone, the
        next one uses the new.
        """
        farm = tuned_farm(self.file_farm, self.tuning.all())
        self.farm = farm
        self.zones = {z.id: z for z in farm.zones}
        log.info("controller: zone tuning re-read")
