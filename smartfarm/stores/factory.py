"""Open the TelemetryStore the settings ask for."""

from __future__ import annotations

from pathlib import Path

from smartfarm.settings import TelemetrySettings
from smartfarm.stores.base import TelemetryStore


def open_telemetry_store(settings: TelemetrySettings, var_dir: Path) -> TelemetryStore:
    api = settings.influx_api()
    if api is None:
        from smartfarm.stores.sqlite import SqliteTelemetryStore

        return SqliteTelemetryStore(settings.telemetry_sqlite or var_dir / "telemetry.db")
    from smartfarm.stores.influx import InfluxTelemetryStore

    assert settings.influx_url is not None
    return InfluxTelemetryStore(
        url=settings.influx_url,
        api=api,
        database=settings.influx_database,
        username=settings.influx_username,
        password=settings.influx_password.get_secret_value() if settings.influx_password else None,
        token=settings.influx_token.get_secret_value() if settings.influx_token else None,
        org=settings.influx_org,
        bucket=settings.influx_bucket,
        rollup_rp=settings.influx_rollup_rp,
        rollup_bucket=settings.influx_rollup_bucket,
    )
