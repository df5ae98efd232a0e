"""Settings of the controller process (SMARTFARM_* environment variables and CLI flags)."""

from __future__ import annotations

from pydantic import Field

from controller.model import Limits
from smartfarm.settings import CommonSettings


class ControllerSettings(CommonSettings):
    client_id: str = "smartfarm-controller"
    # Zones with runs under way are looked at this often (confirmations, retries, soak ends).
    evaluate_seconds: float = Field(2.0, gt=0, le=3600)
    # Every zone is looked at this often even without news (windows, rest periods, faults).
    sweep_seconds: float = Field(60.0, gt=0, le=3600)
    # A reading older than this is stale: the controller will not water on it.
    stale_after_seconds: float = Field(900.0, gt=0)
    # A valve that has not confirmed a command by then is sent it again, up to max_attempts.
    confirm_timeout_seconds: float = Field(15.0, gt=0, le=600)
    max_attempts: int = Field(3, ge=1, le=10)
    # After a farmer presses Stop, automatic watering waits this long.
    manual_stop_hold_minutes: float = Field(30.0, ge=0)
    # Publish Home Assistant MQTT discovery and zone states, and take its valve commands as
    # requests. Off unless asked: for a farm of many zones it doubles the controller's
    # outgoing messages, and a farm without Home Assistant has no use for them.
    home_assistant: bool = False
    # /metrics (Prometheus) and /healthz; 0 turns them off. The gateway's are on 9108.
    controller_metrics_port: int = Field(9109, ge=0, le=65535)
    controller_metrics_host: str = "127.0.0.1"

    def limits(self) -> Limits:
        return Limits(
            stale_after_s=self.stale_after_seconds,
            confirm_timeout_s=self.confirm_timeout_seconds,
            max_attempts=self.max_attempts,
        )
