"""Settings of the gateway process (SMARTFARM_* environment variables and CLI flags)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from smartfarm.settings import CommonSettings, TelemetrySettings

MIB = 1024 * 1024


class GatewaySettings(CommonSettings, TelemetrySettings):
    # Also the name of the persistent session: two gateways need two ids.
    client_id: str = Field("smartfarm-gateway", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    # Writes to the store: up to this many readings, or whatever waited this long.
    batch_max: int = Field(5000, ge=1, le=5000)
    batch_seconds: float = Field(1.0, gt=0, le=10)
    # Gateways with the same group split the readings ($share/<group>/...). Unset = a plain
    # subscription (the embedded broker of `smartfarm up` has no shared subscriptions).
    gateway_share_group: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    # The write-ahead log; default var_dir/gateway/<client_id>.wal.db.
    gateway_wal_path: Path | None = None
    # At this size the gateway stops acknowledging (the broker holds new readings) and
    # raises an alarm; it resumes below gateway_wal_resume_fraction of it.
    gateway_wal_max_bytes: int = Field(1024 * MIB, ge=64 * 1024)
    gateway_wal_resume_fraction: float = Field(0.9, gt=0, lt=1)
    # The same when the disk itself has less than this free.
    gateway_min_free_bytes: int = Field(64 * MIB, ge=0)
    # Messages received but not yet in the log; when full, paho stops reading the socket.
    gateway_inbox_max: int = Field(20_000, ge=10)
    # Store outages: retry forever, waiting up to this long between attempts.
    gateway_retry_max_seconds: float = Field(30.0, gt=0, le=600)
    # Raise an alarm when the store has been failing this long.
    gateway_store_alarm_seconds: float = Field(300.0, ge=0)
    # /metrics and /healthz; 0 turns them off.
    gateway_metrics_port: int = Field(9108, ge=0, le=65535)
    gateway_metrics_host: str = "127.0.0.1"
    # Hourly stats of the hours that received readings, every this many seconds; 0 = off.
    gateway_rollup_seconds: float = Field(300.0, ge=0)
    # Raw readings older than this are deleted after their hours are rolled up; 0 = keep.
    gateway_raw_retention_days: float = Field(365.0, ge=0)
    # A probe repeating the same value this many times in a row is "stuck".
    gateway_stuck_count: int = Field(10, ge=2, le=100_000)

    def wal_path(self) -> Path:
        return self.gateway_wal_path or self.var_dir / "gateway" / f"{self.client_id}.wal.db"
