"""The compose stack's own files, run for real where a server of ours can run them.

There is no Docker engine here: the production Mosquitto config runs in Debian's
Mosquitto, the dashboard's InfluxQL in Debian's influxd 1.6.7 and its SQL in PostgreSQL.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from controller.model import Cycle
from controller.store import ControlStore
from smartfarm import grafana
from smartfarm.cli import main
from smartfarm.config import load_farm_config
from smartfarm.models import Reading
from smartfarm.stores.influx import InfluxTelemetryStore
from smartfarm.testing.influxd import InfluxdServer
from smartfarm.testing.ports import free_port, wait_for_port
from smartfarm.topics import Topics
from tests.ecosystem.mqtt_clients import V5Client

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
EXAMPLE = ROOT / "examples" / "farm.yaml"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "smartfarm.json"
DATASOURCES = DEPLOY / "grafana" / "provisioning" / "datasources" / "smartfarm.yaml"
T = Topics("farm", "demo-farm")


def compose_service(name: str) -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    service = data["services"][name]
    assert isinstance(service, dict)
    return service


# --- Grafana: files -------------------------------------------------------------------------


def test_committed_dashboard_is_the_example_farms_generated_one(tmp_path: Path) -> None:
    out = tmp_path / "dash.json"
    assert main(["grafana-dashboard", "--farm", str(EXAMPLE), "--out", str(out)]) == 0
    assert json.loads(DASHBOARD.read_text(encoding="utf-8")) == json.loads(out.read_text())


def test_each_zone_has_a_moisture_panel_with_its_own_thresholds() -> None:
    farm = load_farm_config(EXAMPLE)
    board = grafana.dashboard(farm)
    titles = [p["title"] for p in board["panels"]]
    for zone in farm.zones:
        panel = next(p for p in board["panels"] if f"({zone.id})" in p["title"])
        steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
        t = zone.effective_thresholds
        assert [s["value"] for s in steps] == [None, t.start, t.stop]
        assert [s["color"] for s in steps] == ["red", "green", "blue"]
        assert f"\"zone\" = '{zone.id}'" in panel["targets"][0]["query"]
    assert {"Irrigation: litres per zone per hour", "Sensor batteries"} <= set(titles)
    assert any(t.startswith("Gateway:") for t in titles)
    ids = [p["id"] for p in board["panels"]]
    assert len(set(ids)) == len(ids)


def test_panels_use_only_provisioned_datasources_with_their_secrets_from_the_environment() -> None:
    sources = yaml.safe_load(DATASOURCES.read_text(encoding="utf-8"))["datasources"]
    provisioned = {(s["type"], s["uid"]) for s in sources}
    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    for panel in board["panels"]:
        used = {(panel["datasource"]["type"], panel["datasource"]["uid"])}
        used |= {(t["datasource"]["type"], t["datasource"]["uid"]) for t in panel["targets"]}
        assert used <= provisioned, panel["title"]
    grafana_env = compose_service("grafana")["environment"]
    text = DATASOURCES.read_text(encoding="utf-8")
    needed = set(re.findall(r"\$\{?([A-Z_][A-Z0-9_]*)", text))
    assert needed, "the datasources take their names and secrets from the environment"
    assert needed <= set(grafana_env), needed - set(grafana_env)
    for source in sources:
        for key in source.get("secureJsonData", {}).values():
            assert str(key).startswith("$"), f"{source['name']}: a literal secret"


def test_prometheus_scrapes_the_gateway_and_controller_metrics_ports() -> None:
    from controller.settings import ControllerSettings
    from gateway.settings import GatewaySettings

    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    jobs = config["scrape_configs"]
    targets = [t for job in jobs for static in job["static_configs"] for t in static["targets"]]
    assert targets == [
        f"gateway:{GatewaySettings().gateway_metrics_port}",
        f"controller:{ControllerSettings().controller_metrics_port}",
    ]


@pytest.mark.parametrize(
    ("script", "service", "exported"),
    [
        ("influxdb/init/grafana-reader.sh", "influxdb", {"DOCKER_INFLUXDB_INIT_BUCKET_ID"}),
        ("postgres/init/10-grafana-reader.sh", "postgres", set()),
    ],
)
def test_init_scripts_are_executable_and_get_their_variables(
    script: str, service: str, exported: set[str]
) -> None:
    path = DEPLOY / script
    assert os.access(path, os.X_OK), f"{script}: chmod +x (git keeps the mode)"
    subprocess.run(["bash", "-n", str(path)], check=True)
    used = set(re.findall(r"\$\{?([A-Z_][A-Z0-9_]*)", path.read_text(encoding="utf-8")))
    given = set(compose_service(service)["environment"]) | exported
    assert used <= given, used - given


# --- Grafana: the queries against real servers -------------------------------------------------


def influxql(query: str, start: datetime, end: datetime) -> str:
    """What Grafana sends for $timeFilter and $__interval."""
    window = f"time >= {int(start.timestamp())}s and time <= {int(end.timestamp())}s"
    return query.replace("$timeFilter", window).replace("$__interval", "1h")


def test_dashboard_influxql_returns_each_zone_and_battery(tmp_path: Path) -> None:
    farm = load_farm_config(EXAMPLE)
    now = datetime.now(UTC).replace(microsecond=0)
    with InfluxdServer(tmp_path / "influxd") as server:
        server.create_database("telemetry")
        store = InfluxTelemetryStore(url=server.url, api="v1", database="telemetry")
        readings = [
            Reading(farm=farm.farm.id, zone=z.id, sensor=s, ts=now - timedelta(minutes=m),
                    seq=m, vwc=0.30, battery_v=3.9)
            for z in farm.zones for s in z.sensors for m in (5, 65)
        ]  # fmt: skip
        store.write_readings(readings)
        board = grafana.dashboard(farm)
        for panel in board["panels"]:
            for target in panel["targets"]:
                if panel["datasource"]["type"] != "influxdb":
                    continue
                query = influxql(target["query"], now - timedelta(hours=3), now)
                answer = httpx.get(f"{server.url}/query", params={"db": "telemetry", "q": query})
                answer.raise_for_status()
                result = answer.json()["results"][0]
                assert "error" not in result, (query, result)
                sensors = {s["tags"]["sensor"] for s in result.get("series", [])}
                assert sensors, f"{panel['title']}: no data from {query}"
        store.close()


def expand_grafana_sql(sql: str, start: datetime, end: datetime) -> str:
    """Grafana's PostgreSQL macros, as its documentation defines them."""
    sql = re.sub(
        r"\$__timeGroupAlias\((\w+),\s*1h\)",
        r'floor(extract(epoch from \1)/3600)*3600 AS "time"',
        sql,
    )
    return re.sub(
        r"\$__timeFilter\((\w+)\)",
        rf"\1 BETWEEN '{start.isoformat()}' AND '{end.isoformat()}'",
        sql,
    )


@pytest.fixture
def control_store(postgres_url: str) -> Iterator[ControlStore]:
    store = ControlStore(postgres_url)
    yield store
    store.close()


def test_irrigation_sql_sums_litres_per_zone_and_hour(
    control_store: ControlStore, postgres_url: str
) -> None:
    import psycopg

    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    control_store.add_cycles(
        [
            Cycle("z1", "r1", hour + timedelta(minutes=5), 600, 730.0),
            Cycle("z1", "r2", hour + timedelta(minutes=40), 300, 365.0),
            Cycle("z2", "r3", hour + timedelta(minutes=10), 600, 660.0),
        ]
    )
    target = grafana.irrigation_panel()["targets"][0]
    sql = expand_grafana_sql(target["rawSql"], hour - timedelta(days=1), datetime.now(UTC))
    url = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        rows = conn.execute(sql).fetchall()
    assert [(int(t), zone, litres) for t, zone, litres in rows] == [
        (int(hour.timestamp()), "z1", 1095.0),
        (int(hour.timestamp()), "z2", 660.0),
    ]


# --- Mosquitto: the production config, paths pointed at a temp dir ---------------------------


@pytest.fixture(scope="module")
def production_broker(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[int, int, dict[str, str]]]:
    """deploy/mosquitto/mosquitto.conf on free ports; (network port, health port, passwords)."""
    work = tmp_path_factory.mktemp("prod-mosquitto")
    assert main(["mqtt-acl", "--farm", str(EXAMPLE), "--out", str(work / "gen")]) == 0
    creds = json.loads((work / "gen" / "credentials.json").read_text())
    port, health = free_port(), free_port()
    conf = (DEPLOY / "mosquitto" / "mosquitto.conf").read_text(encoding="utf-8")
    conf = (
        conf.replace("listener 1883\n", f"listener {port} 127.0.0.1\n")
        .replace("listener 1880 127.0.0.1\n", f"listener {health} 127.0.0.1\n")
        .replace("/mosquitto/config/passwd", str(work / "gen" / "passwd"))
        .replace("/mosquitto/config/acl", str(work / "gen" / "acl"))
        .replace("/mosquitto/config/health.acl", str(DEPLOY / "mosquitto" / "health.acl"))
        .replace("/mosquitto/data/", f"{work}/")
        .replace("log_dest stdout", f"log_dest file {work}/mosquitto.log")
    )
    (work / "mosquitto.conf").write_text(conf + f"\nuser {getpass.getuser()}\n")
    proc = subprocess.Popen(["/usr/sbin/mosquitto", "-c", str(work / "mosquitto.conf")])
    try:
        wait_for_port(port)
        wait_for_port(health)
        yield port, health, {c["username"]: c["password"] for c in creds.values()}
    finally:
        proc.terminate()
        proc.wait(10)


def test_production_broker_refuses_anonymous_clients_on_the_network_listener(
    production_broker: tuple[int, int, dict[str, str]],
) -> None:
    port, _health, passwords = production_broker
    anonymous = V5Client(port, None, None, "anon")
    user = V5Client(port, "smartfarm-controller", passwords["smartfarm-controller"], "ctl")
    try:
        assert anonymous.connack is not None and anonymous.connack.is_failure
        assert user.connack is not None and not user.connack.is_failure
    finally:
        anonymous.close()
        user.close()


def test_health_listener_reads_sys_and_nothing_of_the_farm(
    production_broker: tuple[int, int, dict[str, str]],
) -> None:
    port, health, passwords = production_broker
    result = subprocess.run(
        ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(health), "-t", "$SYS/broker/uptime",
         "-C", "1", "-W", "5"],
        capture_output=True, text=True, timeout=10,
    )  # fmt: skip
    assert result.returncode == 0 and "seconds" in result.stdout, result
    probe = V5Client(health, None, None, "health-probe")
    controller = V5Client(port, "smartfarm-controller", passwords["smartfarm-controller"], "c2")
    try:
        probe.subscribe(T.all_readings)
        assert probe.publish(T.valve_command("v-z1"), b"x").value == 0x87
        sensor = V5Client(port, "s-z1-a", passwords["s-z1-a"], "s1")
        sensor.publish(T.reading("s-z1-a"), b"r")
        sensor.close()
        assert probe.received(timeout=1) == []
    finally:
        probe.close()
        controller.close()
