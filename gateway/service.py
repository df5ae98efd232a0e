"""The gateway loop: receive, validate, batch, store; bad input is dead-lettered, never fatal."""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from datetime import UTC, datetime

from gateway.settings import GatewaySettings
from smartfarm.config import FarmConfig
from smartfarm.ingest import parse_reading
from smartfarm.models import DeadLetter, Reading
from smartfarm.mqtt import Message, MqttLink
from smartfarm.payloads import BadPayload
from smartfarm.stores.base import StoreRejected, StoreUnavailable, TelemetryStore
from smartfarm.stores.state import StateStore
from smartfarm.topics import QOS_READING, Topics

log = logging.getLogger(__name__)


class Gateway:
    def __init__(
        self,
        farm: FarmConfig,
        settings: GatewaySettings,
        telemetry: TelemetryStore,
        state: StateStore,
    ) -> None:
        self.farm = farm
        self.settings = settings
        self.telemetry = telemetry
        self.state = state
        self.topics = Topics(settings.topic_prefix, farm.farm.id)
        self.counts: Counter[str] = Counter()
        self._pending: list[Reading] = []
        # A persistent session: the broker keeps QoS 1 readings for us while we are away.
        self.link = MqttLink(
            settings.mqtt,
            settings.client_id,
            subscriptions=[(self.topics.all_readings, QOS_READING)],
            clean_session=False,
        )

    async def run(self) -> None:
        await self.link.start()
        log.info("gateway: listening on %s", self.topics.all_readings)
        try:
            await self._loop()
        finally:
            await self._flush_until_stored(give_up_after=5.0)
            await self.link.stop()

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.batch_seconds
        while True:
            timeout = max(0.0, deadline - loop.time())
            try:
                message = await asyncio.wait_for(self.link.messages.get(), timeout)
            except TimeoutError:
                message = None
            if message is not None:
                await self.handle(message)
            if len(self._pending) >= self.settings.batch_max or loop.time() >= deadline:
                await self._flush_until_stored()
                deadline = loop.time() + self.settings.batch_seconds

    async def handle(self, message: Message) -> None:
        self.counts["received"] += 1
        try:
            reading = parse_reading(
                message.topic, message.payload, self.farm, self.topics, datetime.now(UTC)
            )
        except BadPayload as err:
            await self._dead_letter(message.topic, message.payload, err.reason, err.detail)
            return
        self._pending.append(reading)

    async def _dead_letter(self, topic: str, payload: bytes, reason: str, detail: str) -> None:
        self.counts[f"dead_letter:{reason}"] += 1
        log.warning("gateway: dead-lettered message on %s: %s: %s", topic, reason, detail)
        letter = DeadLetter(datetime.now(UTC), topic, payload, reason, detail)
        await asyncio.to_thread(self.state.add_dead_letter, letter)

    async def _flush_until_stored(self, give_up_after: float | None = None) -> None:
        """Write the pending batch; on an outage keep it and retry with backoff and jitter."""
        delay = 0.5
        loop = asyncio.get_running_loop()
        started = loop.time()
        while self._pending:
            batch = self._pending
            try:
                await asyncio.to_thread(self.telemetry.write_readings, batch)
            except StoreUnavailable as err:
                if give_up_after is not None and loop.time() - started > give_up_after:
                    log.error("gateway: stopping with %d readings unstored: %s", len(batch), err)
                    return
                self.counts["store_errors"] += 1
                log.warning("gateway: store unavailable, retrying in %.1fs: %s", delay, err)
                await asyncio.sleep(delay * random.uniform(0.5, 1.5))
                delay = min(delay * 2, 30.0)
                continue
            except StoreRejected as err:
                for reading in batch:
                    await self._dead_letter(
                        self.topics.reading(reading.sensor),
                        repr(reading).encode(),
                        "store_rejected",
                        str(err),
                    )
            else:
                self.counts["stored"] += len(batch)
            self._pending = []
