"""The controller with a technician's tuning: thresholds and programs from the state database.

A subclass, so the rule service stays as it is: it starts from the tuned farm and
re-reads the tuning when the API says it changed (a retained message on
``{prefix}/{farm}/controller/tuning``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from controller.service import Controller, utc_now
from controller.settings import ControllerSettings
from controller.store import ControlStore
from controller.tuning import TuningStore, tuned_farm, tuning_topic
from smartfarm.config import FarmConfig
from smartfarm.ingest import ReadingParser
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
        super().__init__(
            tuned_farm(farm, tuning.all(), tuning.calibrations()), settings, state, store, clock
        )
        self.tuning_topic = tuning_topic(self.topics)
        self.link.subscriptions.append((self.tuning_topic, QOS_STATE))

    async def on_messages(self, messages: Sequence[Message]) -> None:
        await super().on_messages(messages)  # our _absorb re-reads the tuning in its place
        if any(m.topic == self.tuning_topic for m in messages):
            await self.evaluate(None)  # every zone at once with the new values

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
        farm = tuned_farm(self.file_farm, self.tuning.all(), self.tuning.calibrations())
        self.farm = farm
        self.zones = {z.id: z for z in farm.zones}
        self.parser = ReadingParser(farm, self.topics)  # a sensor's calibration may be new
        if self.scheduler is not None:
            self.scheduler.use_schedules(farm)  # a zone's program may be new
        log.info("controller: zone tuning re-read")
