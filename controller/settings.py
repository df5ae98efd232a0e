"""Settings of the controller process (SMARTFARM_* environment variables and CLI flags)."""

from __future__ import annotations

from pydantic import Field

from smartfarm.settings import CommonSettings


class ControllerSettings(CommonSettings):
    client_id: str = "smartfarm-controller"
    evaluate_seconds: float = Field(2.0, gt=0, le=3600)
    # A reading older than this is stale: the controller will not water on it.
    stale_after_seconds: float = Field(900.0, gt=0)
    # After a farmer presses Stop, automatic watering waits this long.
    manual_stop_hold_minutes: float = Field(30.0, ge=0)
