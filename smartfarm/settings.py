"""Settings of each process, from SMARTFARM_* environment variables and CLI flags.

Each process builds its own settings object in main() and passes it down; nothing
here runs at import time. Secrets have no defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


@dataclass(frozen=True, slots=True)
class MqttEndpoint:
    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None
    # TLS only: a CA bundle to trust instead of the system's, and a client certificate.
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None


def parse_mqtt_url(url: str) -> MqttEndpoint:
    """``mqtt://[user:pass@]host[:port]`` or ``mqtts://...`` (TLS, default port 8883)."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
        raise ValueError(f"MQTT URL {url!r}: scheme must be mqtt:// or mqtts://")
    if not parts.hostname:
        raise ValueError(f"MQTT URL {url!r}: no host")
    tls = parts.scheme in ("mqtts", "ssl")
    return MqttEndpoint(
        host=parts.hostname,
        port=parts.port or (8883 if tls else 1883),
        tls=tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


class CommonSettings(BaseSettings):
    """What every process needs: the farm, the broker and the state database."""

    model_config = SettingsConfigDict(env_prefix="SMARTFARM_", extra="ignore")

    farm_file: Path = Path("examples/farm.yaml")
    mqtt_url: str = "mqtt://127.0.0.1:1883"
    topic_prefix: str = Field("farm", pattern=r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")
    var_dir: Path = Path("var")
    # SQLAlchemy URL of the state database (decisions, dead letters); SQLite under var_dir if unset.
    state_db_url: str | None = None
    log_level: str = "INFO"
    # The broker's user and password (docs/deploy.md; `smartfarm mqtt-acl` makes them).
    # They win over a user:pass in the URL, which must be URL-encoded and shows in `ps`.
    mqtt_username: str | None = None
    mqtt_password: SecretStr | None = None
    # TLS (mqtts://): a CA bundle to trust (a farm's own CA), and a client certificate
    # and key when the broker asks for one (require_certificate).
    mqtt_ca_file: Path | None = None
    mqtt_cert_file: Path | None = None
    mqtt_key_file: Path | None = None

    @field_validator("mqtt_url")
    @classmethod
    def _valid_mqtt_url(cls, value: str) -> str:
        parse_mqtt_url(value)
        return value

    @model_validator(mode="after")
    def _consistent_mqtt_security(self) -> CommonSettings:
        tls_files = (self.mqtt_ca_file, self.mqtt_cert_file, self.mqtt_key_file)
        if any(tls_files) and not parse_mqtt_url(self.mqtt_url).tls:
            raise ValueError(
                "SMARTFARM_MQTT_CA_FILE/_CERT_FILE/_KEY_FILE are for TLS: "
                "use an mqtts:// SMARTFARM_MQTT_URL"
            )
        if bool(self.mqtt_cert_file) != bool(self.mqtt_key_file):
            raise ValueError("SMARTFARM_MQTT_CERT_FILE and SMARTFARM_MQTT_KEY_FILE go together")
        if self.mqtt_password is not None and not self.mqtt_username:
            raise ValueError("SMARTFARM_MQTT_PASSWORD needs SMARTFARM_MQTT_USERNAME")
        return self

    @property
    def mqtt(self) -> MqttEndpoint:
        endpoint = parse_mqtt_url(self.mqtt_url)
        if self.mqtt_username:
            password = self.mqtt_password.get_secret_value() if self.mqtt_password else None
            endpoint = replace(endpoint, username=self.mqtt_username, password=password)
        return replace(
            endpoint,
            ca_file=self.mqtt_ca_file,
            cert_file=self.mqtt_cert_file,
            key_file=self.mqtt_key_file,
        )

    def resolved_state_db_url(self) -> str:
        return self.state_db_url or f"sqlite:///{self.var_dir / 'state.db'}"


class TelemetrySettings(BaseSettings):
    """Where readings are stored: SQLite under var_dir by default, InfluxDB if a URL is set."""

    model_config = SettingsConfigDict(env_prefix="SMARTFARM_", extra="ignore")

    influx_url: str | None = None
    # v2 API (InfluxDB 2.x, 3.x, Cloud, 1.8+): token, org and bucket.
    influx_token: SecretStr | None = None
    influx_org: str | None = None
    influx_bucket: str | None = None
    # v1 API (InfluxDB 1.x): database, optional user and password.
    influx_database: str | None = None
    influx_username: str | None = None
    influx_password: SecretStr | None = None
    # Where hourly stats go, so they outlive raw readings: a retention policy (v1) or a
    # bucket (v2); unset = next to the raw readings.
    influx_rollup_rp: str | None = None
    influx_rollup_bucket: str | None = None
    telemetry_sqlite: Path | None = None

    def influx_api(self) -> Literal["v1", "v2"] | None:
        if not self.influx_url:
            return None
        if self.influx_bucket:
            if not (self.influx_token and self.influx_org):
                raise ValueError("SMARTFARM_INFLUX_BUCKET needs SMARTFARM_INFLUX_TOKEN and _ORG")
            return "v2"
        if self.influx_database:
            return "v1"
        raise ValueError(
            "SMARTFARM_INFLUX_URL is set: also set SMARTFARM_INFLUX_BUCKET (v2 API) "
            "or SMARTFARM_INFLUX_DATABASE (v1 API)"
        )


class ApiSettings(CommonSettings, TelemetrySettings):
    client_id: str = "smartfarm-api"
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    # How long a login lasts; a logout or a password change ends it sooner.
    session_hours: float = Field(24 * 7, gt=0, le=24 * 366)
    # First admin, created at start when there are no users (no default password, ever).
    admin_username: str = "admin"
    admin_password: SecretStr | None = None
    # Where buyers reach the public traceability pages (/trace/...), e.g.
    # https://trace.example.org; unset or empty: the address the QR label was printed from.
    public_url: str | None = Field(None, pattern=r"^(https?://[^\s/]+(/[^\s]*)?)?$")


class SimSettings(CommonSettings):
    client_id_prefix: str = "sim"
    # Soil physics runs this many times faster than the clock; devices keep real time.
    speed: float = Field(600.0, gt=0, le=1_000_000)
    report_seconds: float = Field(2.0, gt=0)
    seed: int = 1
    # Sensor faults on demand, e.g. "s-z1-a=disconnected,s-z2-a=stuck@120" (firmware_sim.faults).
    faults: str = ""
    # A season's weather (FAO-56 soil): a scenario ("dry", "rainy") from today, or a daily
    # weather CSV; the run ends with the season. Neither: the demo's fast soil, forever.
    scenario: str | None = None
    weather: Path | None = None
    season_days: int = Field(90, ge=1, le=3650)
