"""docker-compose.yml, .env.example, the Mosquitto config and the Dockerfile, read as files.

No Docker engine needed. The last tests run `docker compose config` (or Debian's
`docker-compose`) when one of them is installed, and are skipped otherwise.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from smartfarm.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"

SMARTFARM_SERVICES = ("gateway", "controller", "api", "sim")
SERVERS = ("mosquitto", "influxdb", "postgres", "prometheus", "grafana")
ONE_SHOT = ("grafana-grants",)
# The MQTT user of each smartfarm service, as `smartfarm mqtt-acl` names them.
MQTT_USERS = {
    "gateway": ("smartfarm-gateway", "gateway"),
    "controller": ("smartfarm-controller", "controller"),
    "api": ("smartfarm-api", "api"),
    "sim": ("smartfarm-sim", "sim"),
}
HEARTBEAT_SERVICES = ("gateway", "controller", "sim")
SECRET_KEY = re.compile(r"TOKEN|PASSWORD|SECRET", re.IGNORECASE)
# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?message}, ${VAR?message}
BRACED = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")
BARE = re.compile(r"\$(?P<name>[A-Za-z_][A-Za-z0-9_]*)")
REQUIRED_ONLY = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(?::?\?[^}]*)?\}$")


@cache
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def services() -> dict[str, dict[str, Any]]:
    result = compose()["services"]
    assert isinstance(result, dict)
    return result


@cache
def env_example() -> dict[str, str]:
    values: dict[str, str] = {}
    for number, line in enumerate(ENV_EXAMPLE.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key), f"line {number}: {line!r}"
        assert key not in values, f".env.example sets {key} twice"
        values[key] = value
    return values


def strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from strings(key)
            yield from strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item)


def variables(text: str) -> set[str]:
    text = text.replace("$$", "")  # an escaped dollar is no variable
    return {m["name"] for m in BRACED.finditer(text)} | {m["name"] for m in BARE.finditer(text)}


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's interpolation, enough for these files: values, defaults, required."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"] or "", match["arg"] or ""
        value = env.get(name)
        if op == ":-":
            return value or arg
        if op == "-":
            return arg if value is None else value
        if op.endswith("?") and not value:
            raise KeyError(f"{name}: {arg}")
        return value or ""

    return BRACED.sub(one, text).replace("$$", "$")


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    assert isinstance(env, dict), "use the mapping form of environment"
    return {str(k): str(v) for k, v in env.items()}


# --- the services --------------------------------------------------------------------------


def test_no_version_key_and_the_expected_services() -> None:
    assert "version" not in compose()
    assert set(services()) == {*SERVERS, *SMARTFARM_SERVICES, *ONE_SHOT}


def test_one_shot_grants_retry_until_the_tables_exist_then_stop() -> None:
    grants = services()["grafana-grants"]
    assert grants["restart"] == "on-failure"
    assert "healthcheck" not in grants
    assert grants["depends_on"]["controller"] == {"condition": "service_healthy"}
    command = " ".join(grants["command"])
    assert "GRANT SELECT ON cycles, runs TO grafana_reader" in command
    assert "ON_ERROR_STOP=1" in command


@pytest.mark.parametrize("name", [*SERVERS, *SMARTFARM_SERVICES])
def test_every_service_has_a_healthcheck_and_a_restart_policy(name: str) -> None:
    service = services()[name]
    assert service.get("restart") == "unless-stopped"
    check = service.get("healthcheck")
    assert isinstance(check, dict), f"{name} has no healthcheck"
    assert not check.get("disable")
    assert isinstance(check["test"], list) and check["test"][0] in ("CMD", "CMD-SHELL")
    assert len(check["test"]) > 1
    for key in ("interval", "timeout", "retries"):
        assert key in check, f"{name}: healthcheck without {key}"


@pytest.mark.parametrize("name", SMARTFARM_SERVICES)
def test_smartfarm_services_share_one_build_and_run_a_real_subcommand(name: str) -> None:
    service = services()[name]
    assert service["build"] == "."
    assert service["image"] == "smartfarm:latest"
    command = service["command"]
    assert command == [name], f"{name}: command {command!r}"
    build_parser().parse_args(command)  # SystemExit(2) if the CLI has no such subcommand
    assert "smartfarm-var:/app/var" in service["volumes"]
    # The farm file the services read is the host's FARM_DIR file, mounted read-only.
    mounts = [interpolate(v, env_example()).split(":") for v in service["volumes"]]
    farm_file = interpolate(environment(service)["SMARTFARM_FARM_FILE"], env_example())
    host_dir = next(m[0] for m in mounts if m[1:] == ["/app/farm", "ro"])
    assert (ROOT / host_dir / Path(farm_file).relative_to("/app/farm")).is_file()
    env = environment(service)
    assert env["SMARTFARM_VAR_DIR"] == "/app/var"
    assert interpolate(env["SMARTFARM_MQTT_URL"], {}) == "mqtt://mosquitto:1883"
    state_db = interpolate(env["SMARTFARM_STATE_DB_URL"], env_example())
    assert state_db == (
        "postgresql+psycopg://smartfarm:change-me-postgres-password@postgres:5432/smartfarm"
    )
    user, _role = MQTT_USERS[name]
    assert env["SMARTFARM_MQTT_USERNAME"] == user
    secret = env["SMARTFARM_MQTT_PASSWORD"]
    assert secret.startswith(f"${{MQTT_{name.upper()}_PASSWORD:?"), secret


def test_service_mqtt_users_are_the_ones_mqtt_acl_generates() -> None:
    from smartfarm import mqtt_acl
    from smartfarm.config import load_farm_config

    farm = load_farm_config(ROOT / "examples" / "farm.yaml")
    made = {c.username: c.role for c in mqtt_acl.plan_clients(farm, demo_sim=True)}
    for user, role in MQTT_USERS.values():
        assert made[user] == role
    env = mqtt_acl.service_env(
        {u: {"username": u, "password": "p", "role": r} for u, r in made.items()}
    )
    names = {line.split("=")[0] for line in env.splitlines() if "=" in line}
    for name in MQTT_USERS:
        assert f"MQTT_{name.upper()}_PASSWORD" in names
        assert f"MQTT_{name.upper()}_PASSWORD" in env_example()


@pytest.mark.parametrize("name", HEARTBEAT_SERVICES)
def test_heartbeat_services_are_checked_by_smartfarm_healthcheck(name: str) -> None:
    test = services()[name]["healthcheck"]["test"]
    assert test == ["CMD", "python", "-m", "smartfarm.healthcheck", name]


def test_api_listens_on_all_addresses_inside_and_checks_healthz() -> None:
    api = services()["api"]
    env = environment(api)
    assert env["SMARTFARM_HOST"] == "0.0.0.0"
    assert env["SMARTFARM_PORT"] == "8080"
    probe = " ".join(api["healthcheck"]["test"])
    assert "urllib.request" in probe
    assert "http://127.0.0.1:8080/healthz" in probe


@pytest.mark.parametrize("with_env_example", [False, True])
def test_published_ports_are_on_localhost_by_default(with_env_example: bool) -> None:
    values = env_example() if with_env_example else {}
    published = {
        name: [interpolate(str(port), values) for port in service.get("ports", [])]
        for name, service in services().items()
    }
    assert published["api"] == ["127.0.0.1:8080:8080"]
    assert published["grafana"] == ["127.0.0.1:3000:3000"]
    assert "postgres" not in published or not published["postgres"]
    assert not published["prometheus"]
    for name, ports in published.items():
        for port in ports:
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond localhost"


def test_services_wait_for_healthy_dependencies() -> None:
    for name, service in services().items():
        depends = service.get("depends_on", {})
        assert isinstance(depends, dict), f"{name}: depends_on needs conditions"
        for dependency, rule in depends.items():
            assert dependency in services()
            assert rule == {"condition": "service_healthy"}, f"{name} -> {dependency}"
            assert "healthcheck" in services()[dependency]
    for name in ("gateway", "api"):
        assert set(services()[name]["depends_on"]) == {"mosquitto", "influxdb", "postgres"}
    assert set(services()["controller"]["depends_on"]) == {"mosquitto", "postgres"}
    assert set(services()["sim"]["depends_on"]) == {"mosquitto"}
    assert set(services()["grafana"]["depends_on"]) == {"influxdb", "postgres", "prometheus"}


def test_gateway_and_api_write_readings_to_the_influxdb_service() -> None:
    for name in ("gateway", "api"):
        env = environment(services()[name])
        assert interpolate(env["SMARTFARM_INFLUX_URL"], {}) == "http://influxdb:8086"
        for key in ("SMARTFARM_INFLUX_TOKEN", "SMARTFARM_INFLUX_ORG", "SMARTFARM_INFLUX_BUCKET"):
            assert key in env, f"{name} lacks {key}"
    for name in ("controller", "sim"):
        assert not any(k.startswith("SMARTFARM_INFLUX_") for k in environment(services()[name]))
    gateway = environment(services()["gateway"])
    assert gateway["SMARTFARM_GATEWAY_METRICS_HOST"] == "0.0.0.0"  # for prometheus, unpublished


def test_only_sim_is_optional_under_the_demo_profile() -> None:
    for name, service in services().items():
        assert service.get("profiles", []) == (["demo"] if name == "sim" else []), name


def test_named_volumes_are_declared() -> None:
    declared = set(compose().get("volumes") or {})
    for name, service in services().items():
        for volume in service.get("volumes", []):
            source = interpolate(str(volume), {}).split(":", 1)[0]
            if not source.startswith((".", "/")):
                assert source in declared, f"{name} uses undeclared volume {source}"
    assert {"mosquitto-data", "influxdb-data", "smartfarm-var"} <= declared
    assert {"postgres-data", "prometheus-data", "grafana-data"} <= declared


# --- InfluxDB and secrets ------------------------------------------------------------------


def test_influxdb_is_2_7_set_up_from_required_variables() -> None:
    influxdb = services()["influxdb"]
    assert influxdb["image"] == "influxdb:2.7"
    env = environment(influxdb)
    assert env["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    for suffix in ("USERNAME", "PASSWORD", "ORG", "BUCKET", "ADMIN_TOKEN"):
        value = env[f"DOCKER_INFLUXDB_INIT_{suffix}"]
        assert re.fullmatch(r"\$\{[A-Z0-9_]+:\?[^}]+\}", value), f"{suffix}: {value!r}"
    assert influxdb["healthcheck"]["test"] == ["CMD", "influx", "ping"]


def test_no_literal_secret_in_the_compose_file() -> None:
    checked = 0
    for name, service in services().items():
        for key, value in environment(service).items():
            if SECRET_KEY.search(key):
                checked += 1
                assert REQUIRED_ONLY.fullmatch(value), (
                    f"{name}: {key} must be ${{VAR:?message}} from .env, not {value!r}"
                )
    assert checked >= 12  # influx, postgres, grafana, MQTT and first-admin secrets
    assert not [text for text in strings(compose()) if "change-me" in text]


def test_every_variable_the_compose_file_uses_is_in_env_example() -> None:
    used = set().union(*(variables(text) for text in strings(compose())))
    assert used, "no ${VAR} found: the parser is broken"
    missing = sorted(used - set(env_example()))
    assert not missing, f"add to .env.example: {missing}"


def test_env_example_secrets_are_obvious_placeholders() -> None:
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    assert re.search(r"^#.*\.env\b", text, re.MULTILINE), "say to copy it to .env"
    secrets = {k: v for k, v in env_example().items() if SECRET_KEY.search(k)}
    assert {"INFLUXDB_PASSWORD", "INFLUXDB_ADMIN_TOKEN", "POSTGRES_PASSWORD"} <= set(secrets)
    assert {"MQTT_GATEWAY_PASSWORD", "GRAFANA_ADMIN_PASSWORD", "SMARTFARM_ADMIN_PASSWORD"} <= set(
        secrets
    )
    for key, value in secrets.items():
        assert value.startswith("change-me-"), f"{key}={value!r} looks like a real secret"
    assert len(env_example()["INFLUXDB_PASSWORD"]) >= 8  # influx setup refuses shorter ones


def test_env_example_resolves_every_required_variable() -> None:
    for text in strings(compose()):
        interpolate(text, env_example())  # KeyError names a missing required variable
    with pytest.raises(KeyError, match=r"INFLUXDB_|POSTGRES_"):
        for text in strings(compose()):
            interpolate(text, {})


# --- Mosquitto, Dockerfile, .dockerignore --------------------------------------------------


def mosquitto_listeners() -> dict[str, dict[str, str]]:
    """Each listener line of deploy/mosquitto/mosquitto.conf with the settings under it."""
    config = ROOT / "deploy" / "mosquitto" / "mosquitto.conf"
    listeners: dict[str, dict[str, str]] = {"global": {}}
    current = "global"
    for line in config.read_text(encoding="utf-8").splitlines():
        words = line.split(None, 1)
        if not words or words[0].startswith("#"):
            continue
        if words[0] == "listener":
            current = words[1]
            listeners[current] = {}
        else:
            listeners[current][words[0]] = words[1] if len(words) > 1 else ""
    return listeners


def test_mosquitto_config_is_mounted_and_the_network_listener_needs_users() -> None:
    mosquitto = services()["mosquitto"]
    assert mosquitto["image"] == "eclipse-mosquitto:2"
    mounts = [str(v) for v in mosquitto["volumes"]]
    config_mount = next(m for m in mounts if m.endswith("/mosquitto/config/mosquitto.conf:ro"))
    assert ROOT / config_mount.split(":", 1)[0] == ROOT / "deploy" / "mosquitto" / "mosquitto.conf"
    assert "./deploy/mosquitto/health.acl:/mosquitto/config/health.acl:ro" in mounts
    assert "${MQTT_ACL_DIR:-./deploy/mosquitto/generated}:/run/smartfarm-mqtt:ro" in mounts
    assert any(m.startswith("mosquitto-data:/mosquitto/data") for m in mounts)
    listeners = mosquitto_listeners()
    assert listeners["global"]["per_listener_settings"] == "true"
    assert any(settings.get("persistence") == "true" for settings in listeners.values())
    assert listeners["1883"] == {
        "allow_anonymous": "false",
        "password_file": "/mosquitto/config/passwd",
        "acl_file": "/mosquitto/config/acl",
    }
    assert listeners["1880 127.0.0.1"]["acl_file"] == "/mosquitto/config/health.acl"
    # The start command puts the generated files where the config reads them.
    start = " ".join(mosquitto["command"])
    assert "cp /run/smartfarm-mqtt/passwd /run/smartfarm-mqtt/acl /mosquitto/config/" in start
    assert start.rstrip().endswith("exec mosquitto -c /mosquitto/config/mosquitto.conf")
    check = mosquitto["healthcheck"]["test"]
    assert check[:2] == ["CMD", "mosquitto_sub"]
    assert check[check.index("-p") + 1] == "1880"
    assert "$$SYS/broker/uptime" in check, "escape $SYS as $$SYS or compose interpolates it"


def test_dockerfile_is_multi_stage_non_root_with_the_cli_as_entrypoint() -> None:
    lines = [
        line.strip()
        for line in DOCKERFILE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    froms = [line for line in lines if line.upper().startswith("FROM ")]
    assert len(froms) >= 2
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in lines
    assert 'ENTRYPOINT ["smartfarm"]' in lines
    assert "WORKDIR /app" in lines
    assert "VOLUME /app/var" in lines
    assert "EXPOSE 8080" in lines
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users, "the image must not run as root"
    assert users[-1].split(":")[0] not in ("root", "0")
    assert any(line.startswith("COPY examples/") for line in lines)
    final_stage = lines[lines.index(froms[-1]) :]
    assert not any(re.search(r"\b(gcc|build-essential|apt-get)\b", line) for line in final_stage)


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_build() -> None:
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".env", ".venv", "var", ".git", "test-artifacts", ".pytest_cache"} <= ignored


# --- the real Compose parser, when installed -----------------------------------------------


def compose_command() -> list[str] | None:
    """`docker compose` (v2 plugin) or `docker-compose` (v1, Debian 12; or v2 standalone)."""
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run(
            [docker, "compose", "version"], capture_output=True, text=True, timeout=30
        )
        if probe.returncode == 0:
            return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    return [standalone] if standalone else None


def run_compose_config(env_file: Path) -> subprocess.CompletedProcess[str]:
    command = compose_command()
    if command is None:
        pytest.skip(
            "no Compose CLI: install Debian's docker-compose "
            "(apt-get install --no-install-recommends docker-compose) or the docker compose plugin"
        )
    # A clean environment: variables of the test run must not fill in for .env.example.
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL")}
    return subprocess.run(
        [*command, "-f", str(COMPOSE_FILE), "--env-file", str(env_file), "config", "-q"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_compose_cli_accepts_the_file_with_env_example() -> None:
    result = run_compose_config(ENV_EXAMPLE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_cli_refuses_to_run_without_the_secrets(tmp_path: Path) -> None:
    empty = tmp_path / "empty.env"
    empty.write_text("", encoding="utf-8")
    result = run_compose_config(empty)
    assert result.returncode != 0
    assert re.search(r"(INFLUXDB|POSTGRES|MQTT|GRAFANA)_", result.stdout + result.stderr)
