"""The `smartfarm` command: run the whole demo, or each process on its own."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from pydantic import ValidationError

from smartfarm.config import FarmConfigError, load_farm_config

COMMON_FLAGS = {
    "--farm": ("farm_file", "farm config file (YAML), default examples/farm.yaml"),
    "--mqtt-url": ("mqtt_url", "broker, mqtt://[user:pass@]host[:port] or mqtts://..."),
    "--var-dir": ("var_dir", "where SQLite stores and heartbeats live, default ./var"),
    "--state-db-url": ("state_db_url", "SQLAlchemy URL of the state database"),
    "--log-level": ("log_level", "DEBUG, INFO, WARNING or ERROR"),
}


# Benchmark name -> module with ``main(argv: list[str]) -> int``; imported only when run.
BENCHMARKS: dict[str, str] = {
    "controller": "controller.bench",
    "ingest": "gateway.bench",
    "season": "firmware_sim.season",
    "api": "api.bench",
}


def _add_common(parser: argparse.ArgumentParser, skip: Sequence[str] = ()) -> None:
    for flag, (dest, help_text) in COMMON_FLAGS.items():
        if flag not in skip:
            parser.add_argument(flag, dest=dest, help=help_text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smartfarm",
        description="Soil-moisture telemetry and drip irrigation for smallholder farms. "
        "Every flag can also be set as an environment variable SMARTFARM_<NAME>.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = sub.add_parser(
        "up",
        help="run everything in one process: the demo",
        description="Broker (embedded unless --mqtt-url), simulated farm, "
        "gateway, controller, API and phone page on http://127.0.0.1:8080.",
    )
    _add_common(up)
    up.add_argument("--port", type=int, help="HTTP port of the phone page and API (8080)")
    up.add_argument("--host", help="HTTP address to listen on (127.0.0.1)")
    up.add_argument(
        "--broker-port",
        type=int,
        default=1883,
        help="port of the embedded broker; another free one if taken (1883)",
    )
    up.add_argument("--speed", type=float, help="soil time runs this many times faster (600)")

    gw = sub.add_parser(
        "gateway",
        help="store every reading (SQLite or InfluxDB)",
        description="Subscribe to readings, validate, dead-letter bad ones and "
        "store the rest. InfluxDB via SMARTFARM_INFLUX_URL and friends.",
    )
    _add_common(gw)
    ctl = sub.add_parser(
        "controller",
        help="decide and command the valves",
        description="Keep the latest readings, apply the rules, "
        "send bounded valve commands, log every decision with its reason.",
    )
    _add_common(ctl)
    api = sub.add_parser("api", help="serve the API and the phone page")
    _add_common(api)
    api.add_argument("--port", type=int, help="HTTP port (8080)")
    api.add_argument("--host", help="HTTP address (127.0.0.1)")
    sim = sub.add_parser(
        "sim",
        help="simulate the farm's sensors and valves",
        description="Sensor nodes that publish readings and valve nodes that "
        "obey bounded commands, over MQTT.",
    )
    _add_common(sim)
    sim.add_argument("--speed", type=float, help="soil time runs this many times faster (600)")
    sim.add_argument("--report-seconds", type=float, help="seconds between readings (2)")
    sim.add_argument("--seed", type=int, help="random seed (1)")
    sim.add_argument(
        "--faults",
        help="device faults, e.g. s-z1-a=disconnected,v-z2=stuck_open@120 (sensors: "
        "disconnected, shorted, stuck, spike, drift, air_gap; valves: stuck_open, "
        "stuck_closed, slow_confirm; @ seconds after start)",
    )
    season = sim.add_mutually_exclusive_group()
    season.add_argument("--scenario", help="season weather from today: dry or rainy")
    season.add_argument("--weather", help="season weather from a daily CSV (docs/simulator.md)")
    sim.add_argument("--season-days", type=int, help="days of a --scenario season (90)")
    dry = sub.add_parser(
        "dry-run",
        help="replay past readings through new thresholds, actuating nothing",
        description="What the controller would have done over the last days with these "
        "thresholds, and how much water it would have given. Prints one JSON document.",
    )
    _add_common(dry, skip=["--mqtt-url"])
    dry.add_argument("--zone", required=True, help="zone id")
    dry.add_argument("--days", type=float, default=7.0, help="days to replay (7)")
    dry.add_argument("--start", type=float, required=True, help="start threshold, m3/m3")
    dry.add_argument("--stop", type=float, required=True, help="stop threshold, m3/m3")
    users = sub.add_parser(
        "users",
        help="add, list or remove the people who may log in",
        description="Users of the API and phone page, in the state database. Roles: viewer, "
        "farmer, technician, admin. The password is asked for (or read from stdin).",
    )
    _add_common(users, skip=["--mqtt-url", "--farm"])
    users.add_argument("action", choices=["add", "list", "remove", "password"])
    users.add_argument("name", nargs="?", help="user name")
    users.add_argument("--role", help="viewer, farmer, technician or admin (farmer)")
    users.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    bench = sub.add_parser(
        "bench",
        help="benchmarks: each prints one JSON line",
        description="Run a benchmark against real servers; each prints one JSON line "
        "with its figures and the ceiling measured in the same run.",
    )
    bench.add_argument("name", choices=sorted(BENCHMARKS), help="which benchmark")
    bench.add_argument("args", nargs=argparse.REMAINDER, help="its own flags (NAME --help)")
    _add_mqtt_acl(sub)
    return parser


def _add_mqtt_acl(sub: Any) -> None:
    acl = sub.add_parser(
        "mqtt-acl",
        help="write Mosquitto's password and ACL files from the farm config",
        description="A user per device and process with only its own topics: DIR/passwd, "
        "DIR/acl, DIR/credentials.json (client id -> username, password, role) and "
        "DIR/compose.env. Passwords already in DIR/credentials.json are kept.",
    )
    acl.add_argument("--farm", dest="farm_file", help="farm config file (YAML)")
    acl.add_argument("--out", required=True, help="directory to write the files to")
    acl.add_argument("--topic-prefix", help="topic prefix (farm)")
    acl.add_argument("--gateways", type=int, default=1, help="gateway users to create (1)")
    acl.add_argument("--demo-sim", action="store_true", help="a user for the simulator (demo only)")
    acl.add_argument("--rotate", action="store_true", help="new passwords for everyone")
    dash = sub.add_parser(
        "grafana-dashboard",
        help="write the farm's Grafana dashboard (JSON) with each zone's thresholds",
    )
    dash.add_argument("--farm", dest="farm_file", help="farm config file (YAML)")
    dash.add_argument("--out", required=True, help="file to write, e.g. deploy/grafana/...")


def _deploy_file(args: argparse.Namespace) -> int:
    """`mqtt-acl` and `grafana-dashboard`: files for the compose stack, from the farm config."""
    from pathlib import Path

    from smartfarm import grafana, mqtt_acl, settings

    keys = ("farm_file", "topic_prefix")
    overrides = {k: v for k in keys if (v := getattr(args, k, None))}
    common = settings.CommonSettings(**overrides)
    farm = load_farm_config(common.farm_file)
    out = Path(args.out)
    if args.command == "grafana-dashboard":
        text = json.dumps(grafana.dashboard(farm), ensure_ascii=False, indent=2) + "\n"
        out.write_text(text, encoding="utf-8")
        return 0
    creds = mqtt_acl.write_files(
        out,
        farm,
        common.topic_prefix,
        gateways=args.gateways,
        demo_sim=args.demo_sim,
        rotate=args.rotate,
    )
    sys.stdout.write(f"{len(creds)} MQTT users written to {out}/passwd, acl, credentials.json\n")
    return 0


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    keys = [dest for dest, _ in COMMON_FLAGS.values()] + [
        "port",
        "host",
        "speed",
        "report_seconds",
        "seed",
        "faults",
        "scenario",
        "weather",
        "season_days",
    ]
    return {k: v for k in keys if (v := getattr(args, k, None)) is not None}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "bench":
        import importlib

        module = importlib.import_module(BENCHMARKS[args.name])
        return int(module.main(args.args))
    if args.command in ("mqtt-acl", "grafana-dashboard"):
        try:
            return _deploy_file(args)
        except FarmConfigError as err:
            sys.stderr.write(f"smartfarm: bad farm config:\n{err}\n")
            return 2
        except (ValidationError, ValueError, OSError) as err:
            sys.stderr.write(f"smartfarm: {args.command}: {err}\n")
            return 2
    overrides = _overrides(args)
    if args.command == "users":
        return _users(args, overrides)
    from controller.settings import ControllerSettings
    from gateway.settings import GatewaySettings
    from smartfarm import run, settings

    try:
        common = settings.CommonSettings(**overrides)
        logging.basicConfig(
            level=common.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        for noisy in ("amqtt", "transitions", "apscheduler", "uvicorn.error"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        load_farm_config(common.farm_file)
        if args.command == "dry-run":
            report = run.dry_run_report(
                settings.ApiSettings(**overrides), args.zone, args.days, args.start, args.stop
            )
            sys.stdout.write(json.dumps(report, ensure_ascii=False, indent=2) + "\n")
            return 0
        jobs: dict[str, Callable[[], Coroutine[Any, Any, None]]] = {
            "up": lambda: run.run_up(
                overrides, args.broker_port, embedded="mqtt_url" not in overrides
            ),
            "gateway": lambda: run.run_gateway(GatewaySettings(**overrides)),
            "controller": lambda: run.run_controller(ControllerSettings(**overrides)),
            "api": lambda: run.run_api(settings.ApiSettings(**overrides)),
            "sim": lambda: run.run_sim(settings.SimSettings(**overrides)),
        }
        asyncio.run(jobs[args.command]())
    except FarmConfigError as err:
        sys.stderr.write(f"smartfarm: bad farm config:\n{err}\n")
        return 2
    except (ValidationError, ValueError) as err:
        sys.stderr.write(f"smartfarm: bad settings: {err}\n")
        return 2
    except (ConnectionError, RuntimeError, OSError) as err:
        sys.stderr.write(f"smartfarm: {err}\n")
        return 1
    return 0


def _users(args: argparse.Namespace, overrides: dict[str, Any]) -> int:
    from api.users import users_command
    from smartfarm.settings import ApiSettings
    from smartfarm.stores.users import UserError

    try:
        settings = ApiSettings(**overrides)
        return users_command(settings, args.action, args.name, args.role, args.password_stdin)
    except (UserError, ValidationError, ValueError) as err:
        sys.stderr.write(f"smartfarm users: {err}\n")
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
