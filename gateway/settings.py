"""Settings of the gateway process (SMARTFARM_* environment variables and CLI flags)."""

from __future__ import annotations

from pydantic import Field

from smartfarm.settings import CommonSettings, TelemetrySettings


class GatewaySettings(CommonSettings, TelemetrySettings):
    client_id: str = "smartfarm-gateway"
    batch_max: int = Field(500, ge=1, le=5000)
    batch_seconds: float = Field(0.5, gt=0, le=10)
