"""Mosquitto credentials and topic ACLs generated from the farm config.

``smartfarm mqtt-acl --farm FILE --out DIR`` writes ``DIR/passwd`` (Mosquitto's password
file), ``DIR/acl`` and ``DIR/credentials.json`` (client id -> username, password, role).
Every device and process gets its own user and exactly the topics of its job: a sensor
publishes only its own readings, a valve reads only its own commands and writes only its
own state, only the controller commands valves (docs/deploy.md).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypedDict

from smartfarm.config import FarmConfig
from smartfarm.ha_topics import HaTopics
from smartfarm.topics import Topics

Access = Literal["read", "write", "readwrite"]
Role = Literal["sensor", "valve", "controller", "gateway", "api", "homeassistant", "sim"]

# Mosquitto 2's own format ($7$ = PBKDF2-SHA512), as mosquitto_passwd writes it. Its
# default of 101 rounds is kept: the passwords are 32 random bytes, so rounds add no
# strength, and every connect of every device pays for them on a small farm computer.
PBKDF2_ROUNDS = 101
SALT_BYTES = 12

# The smartfarm processes' default client ids (their settings' client_id) are also their
# user names, so a process needs only SMARTFARM_MQTT_USERNAME/_PASSWORD to connect.
CONTROLLER = "smartfarm-controller"
GATEWAY = "smartfarm-gateway"
API = "smartfarm-api"
HOMEASSISTANT = "homeassistant"
SIM = "smartfarm-sim"


@dataclass(frozen=True, slots=True)
class Rule:
    access: Access
    topic: str


@dataclass(frozen=True, slots=True)
class Client:
    """One MQTT user: its client id, user name, role and the topics it may use."""

    client_id: str
    username: str
    role: Role
    rules: tuple[Rule, ...]


class Credential(TypedDict):
    username: str
    password: str
    role: str


def tuning_topic(t: Topics) -> str:
    """The API's retained note that a zone's tuning changed (controller/tuning.py's topic)."""
    return f"{t.base}/controller/tuning"


def _sensor(t: Topics, device: str) -> tuple[Rule, ...]:
    return (Rule("write", t.reading(device)), Rule("write", t.availability(device)))


def _rain_gauge(t: Topics, device: str) -> tuple[Rule, ...]:
    return (Rule("write", t.rain(device)), Rule("write", t.availability(device)))


def _valve(t: Topics, device: str) -> tuple[Rule, ...]:
    return (
        Rule("read", t.valve_command(device)),
        Rule("write", t.valve_state(device)),
        Rule("write", t.availability(device)),
    )


def _controller(t: Topics, ha: HaTopics) -> tuple[Rule, ...]:
    return (
        Rule("read", t.all_readings),
        Rule("read", t.rain("+")),
        Rule("read", t.all_valve_states),
        Rule("read", t.availability("+")),
        Rule("read", t.controller_request()),
        Rule("read", tuning_topic(t)),
        Rule("read", ha.all_zone_commands),
        Rule("read", ha.status),
        Rule("write", t.valve_command("+")),
        Rule("write", t.controller_decision()),
        Rule("write", t.alarm("controller")),
        Rule("write", ha.all_zone_states),
        Rule("readwrite", ha.all_configs),
    )


def _gateway(t: Topics) -> tuple[Rule, ...]:
    # Mosquitto checks a $share/<group>/<filter> subscription against <filter>.
    return (Rule("read", t.all_readings), Rule("write", t.alarm("gateway")))


def _api(t: Topics, ha: HaTopics) -> tuple[Rule, ...]:
    return (
        Rule("read", t.all_readings),
        Rule("read", t.all_valve_states),
        Rule("read", t.availability("+")),
        Rule("read", t.controller_decision()),
        Rule("read", t.alarm("+")),
        Rule("read", ha.all_zone_states),
        Rule("write", t.controller_request()),
        Rule("readwrite", tuning_topic(t)),
    )


def _homeassistant(t: Topics, ha: HaTopics) -> tuple[Rule, ...]:
    # Home Assistant sees what it shows and sends only zone commands, which the
    # controller turns into requests under its safety limits: never a valve command.
    return (
        Rule("read", ha.all_configs),
        Rule("read", ha.all_zone_states),
        Rule("read", t.all_valve_states),
        Rule("read", t.availability("+")),
        Rule("readwrite", ha.status),
        Rule("write", ha.all_zone_commands),
    )


def _sim(
    t: Topics, sensors: Iterable[str], gauges: Iterable[str], valves: Iterable[str]
) -> tuple[Rule, ...]:
    """The demo simulator plays every device with one user (never for real devices)."""
    rules: list[Rule] = []
    for sensor in sensors:
        rules += _sensor(t, sensor)
    for gauge in gauges:
        rules += _rain_gauge(t, gauge)
    for valve in valves:
        rules += _valve(t, valve)
    return tuple(rules)


def plan_clients(
    farm: FarmConfig,
    prefix: str = "farm",
    *,
    gateways: int = 1,
    demo_sim: bool = False,
    discovery_prefix: str = "homeassistant",
) -> list[Client]:
    """Every MQTT user of the farm with its rules, devices first (pure)."""
    if gateways < 1:
        raise ValueError(f"gateways: {gateways}; at least one is needed")
    t = Topics(prefix, farm.farm.id)
    ha = HaTopics(t, discovery_prefix)
    sensors = [s for z in farm.zones for s in z.sensors]
    gauges = [g for g in [farm.farm.rain_sensor] if g]
    valves = [z.valve for z in farm.zones] + [v for v in [farm.farm.pump.master_valve] if v]
    clients = [Client(s, s, "sensor", _sensor(t, s)) for s in sensors]
    clients += [Client(g, g, "sensor", _rain_gauge(t, g)) for g in gauges]
    clients += [Client(v, v, "valve", _valve(t, v)) for v in valves]
    clients.append(Client(CONTROLLER, CONTROLLER, "controller", _controller(t, ha)))
    for n in range(1, gateways + 1):
        name = GATEWAY if n == 1 else f"{GATEWAY}-{n}"
        clients.append(Client(name, name, "gateway", _gateway(t)))
    clients.append(Client(API, API, "api", _api(t, ha)))
    clients.append(Client(HOMEASSISTANT, HOMEASSISTANT, "homeassistant", _homeassistant(t, ha)))
    if demo_sim:
        clients.append(Client(SIM, SIM, "sim", _sim(t, sensors, gauges, valves)))
    names = [c.username for c in clients]
    clash = sorted({n for n in names if names.count(n) > 1})
    if clash:
        raise ValueError(f"device ids {', '.join(clash)} clash with the processes' user names")
    return clients


def render_acl(clients: Iterable[Client]) -> str:
    """Mosquitto's acl_file: no line before the first ``user``, so anonymous gets nothing."""
    lines = ["# Generated by `smartfarm mqtt-acl`; edit the farm config and regenerate."]
    for client in clients:
        lines += ["", f"# {client.role}", f"user {client.username}"]
        lines += [f"topic {rule.access} {rule.topic}" for rule in client.rules]
    return "\n".join(lines) + "\n"


def hash_password(password: str, salt: bytes | None = None, rounds: int = PBKDF2_ROUNDS) -> str:
    """``$7$rounds$salt$hash``: PBKDF2-HMAC-SHA512, base64, as Mosquitto 2 reads it."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, rounds)
    return f"$7${rounds}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def render_passwd(credentials: Mapping[str, Credential]) -> str:
    for client_id, cred in credentials.items():
        if ":" in cred["username"] or "\n" in cred["username"]:
            raise ValueError(f"{client_id}: user name {cred['username']!r} has ':' or a newline")
    lines = [f"{c['username']}:{hash_password(c['password'])}" for c in credentials.values()]
    return "\n".join(lines) + "\n"


def new_password() -> str:
    return secrets.token_urlsafe(32)


def credentials_for(
    clients: Iterable[Client], known: Mapping[str, Credential], rotate: bool = False
) -> dict[str, Credential]:
    """A password per client: the one it has already (so devices keep working) or a new one."""
    result: dict[str, Credential] = {}
    for client in clients:
        old = known.get(client.client_id)
        keep = old is not None and not rotate and old.get("username") == client.username
        password = old["password"] if keep and old else new_password()
        result[client.client_id] = {
            "username": client.username,
            "password": password,
            "role": client.role,
        }
    return result


def read_credentials(path: Path) -> dict[str, Credential]:
    """An earlier credentials.json, or nothing; a broken one is an error, not a reset."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as err:
        raise ValueError(f"{path}: not JSON ({err}); fix or remove it") from err
    if not isinstance(data, dict) or not all(
        isinstance(v, dict) and isinstance(v.get("password"), str) for v in data.values()
    ):
        raise ValueError(f"{path}: expected {{client id: {{username, password, role}}}}")
    return data


def _write_private(path: Path, text: str) -> None:
    """Write a secret file readable by its owner only, replacing it atomically."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(tmp, path)


def service_env(credentials: Mapping[str, Credential]) -> str:
    """The services' passwords as .env lines for docker-compose.yml."""
    names = {CONTROLLER: "CONTROLLER", GATEWAY: "GATEWAY", API: "API", SIM: "SIM"}
    names[HOMEASSISTANT] = "HOMEASSISTANT"
    lines = ["# MQTT passwords of the services: put these lines in .env (see docs/deploy.md)."]
    for client_id, var in names.items():
        if client_id in credentials:
            lines.append(f"MQTT_{var}_PASSWORD={credentials[client_id]['password']}")
    return "\n".join(lines) + "\n"


def write_files(
    out: Path,
    farm: FarmConfig,
    prefix: str = "farm",
    *,
    gateways: int = 1,
    demo_sim: bool = False,
    rotate: bool = False,
) -> dict[str, Credential]:
    """Write passwd, acl, credentials.json and compose.env in ``out``; the credentials."""
    clients = plan_clients(farm, prefix, gateways=gateways, demo_sim=demo_sim)
    out.mkdir(parents=True, exist_ok=True)
    creds = credentials_for(clients, read_credentials(out / "credentials.json"), rotate)
    _write_private(out / "credentials.json", json.dumps(creds, indent=2) + "\n")
    _write_private(out / "passwd", render_passwd(creds))
    _write_private(out / "compose.env", service_env(creds))
    # The ACL holds no secret; Mosquitto only needs to read it.
    (out / "acl").write_text(render_acl(clients), encoding="utf-8")
    return creds
