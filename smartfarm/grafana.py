"""The Grafana dashboard of a farm, built from its config so each zone shows its own thresholds.

``smartfarm grafana-dashboard --farm FILE --out FILE`` writes it; docker-compose provisions
deploy/grafana/dashboards/ (the example farm's dashboard is committed there). Moisture and
battery come from InfluxDB through InfluxQL (the same queries work on 1.x, 2.x and 3.x),
irrigation from the state database (PostgreSQL), the gateway's health from Prometheus.
"""

from __future__ import annotations

from typing import Any

from smartfarm.config import FarmConfig, ZoneConfig

INFLUX = {"type": "influxdb", "uid": "smartfarm-influxdb"}
POSTGRES = {"type": "grafana-postgresql-datasource", "uid": "smartfarm-postgres"}
PROMETHEUS = {"type": "prometheus", "uid": "smartfarm-prometheus"}
DRY, GOOD, WET = "red", "green", "blue"

Panel = dict[str, Any]


def _influxql(ref: str, query: str) -> dict[str, Any]:
    return {
        "refId": ref,
        "datasource": INFLUX,
        "rawQuery": True,
        "resultFormat": "time_series",
        "query": query,
    }


def _timeseries(title: str, datasource: dict[str, str], targets: list[dict[str, Any]]) -> Panel:
    return {
        "type": "timeseries",
        "title": title,
        "datasource": datasource,
        "targets": targets,
        "fieldConfig": {"defaults": {}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
    }


def moisture_panel(farm: FarmConfig, zone: ZoneConfig) -> Panel:
    """Soil moisture of one zone's sensors, red below its start threshold, blue above stop."""
    t = zone.effective_thresholds
    query = (
        'SELECT mean("vwc") FROM "soil" WHERE "farm" = \'' + farm.farm.id + "' AND "
        f"\"zone\" = '{zone.id}' AND \"quality\" = 'good' AND $timeFilter "
        'GROUP BY time($__interval), "sensor" fill(none)'
    )
    panel = _timeseries(f"{zone.name} ({zone.id}): soil moisture", INFLUX, [_influxql("A", query)])
    panel["description"] = (
        f"Watering starts below {t.start:.0%} and stops at {t.stop:.0%} "
        f"({'technician override' if zone.thresholds else 'from soil and crop'})."
    )
    panel["fieldConfig"]["defaults"] = {
        "unit": "percentunit",
        "min": 0,
        "max": 0.6,
        "custom": {"thresholdsStyle": {"mode": "line+area"}},
        "thresholds": {
            "mode": "absolute",
            "steps": [
                {"color": DRY, "value": None},
                {"color": GOOD, "value": t.start},
                {"color": WET, "value": t.stop},
            ],
        },
    }
    return panel


def irrigation_panel() -> Panel:
    """Litres per zone per hour from the controller's cycles of water (state database)."""
    sql = (
        "SELECT $__timeGroupAlias(started_at, 1h), zone AS metric, sum(litres) AS litres "
        "FROM cycles WHERE $__timeFilter(started_at) GROUP BY 1, 2 ORDER BY 1"
    )
    target = {
        "refId": "A",
        "datasource": POSTGRES,
        "format": "time_series",
        "rawQuery": True,
        "editorMode": "code",
        "rawSql": sql,
    }
    panel = _timeseries("Irrigation: litres per zone per hour", POSTGRES, [target])
    panel["fieldConfig"]["defaults"] = {"unit": "litre", "custom": {"drawStyle": "bars"}}
    return panel


def battery_panel(farm: FarmConfig) -> Panel:
    query = (
        'SELECT last("battery_v") FROM "soil" WHERE "farm" = \'' + farm.farm.id + "' AND "
        '$timeFilter GROUP BY time($__interval), "sensor" fill(none)'
    )
    panel = _timeseries("Sensor batteries", INFLUX, [_influxql("A", query)])
    panel["fieldConfig"]["defaults"] = {
        "unit": "volt",
        "thresholds": {
            "mode": "absolute",
            "steps": [{"color": "red", "value": None}, {"color": "green", "value": 3.5}],
        },
        "custom": {"thresholdsStyle": {"mode": "line"}},
    }
    return panel


def gateway_panels() -> list[Panel]:
    def prom(ref: str, expr: str, legend: str) -> dict[str, Any]:
        return {"refId": ref, "datasource": PROMETHEUS, "expr": expr, "legendFormat": legend}

    rates = _timeseries(
        "Gateway: readings per second",
        PROMETHEUS,
        [
            prom("A", "rate(smartfarm_gateway_readings_received_total[5m])", "received"),
            prom("B", "rate(smartfarm_gateway_readings_stored_total[5m])", "stored"),
            prom("C", "sum(rate(smartfarm_gateway_dead_letters_total[5m]))", "dead letters"),
        ],
    )
    backlog = _timeseries(
        "Gateway: write-ahead log and broker connection",
        PROMETHEUS,
        [
            prom("A", "smartfarm_gateway_wal_depth", "readings waiting for the store"),
            prom("B", "smartfarm_gateway_wal_oldest_age_seconds", "oldest waiting (s)"),
            prom("C", "smartfarm_gateway_mqtt_connected", "connected to the broker"),
        ],
    )
    return [rates, backlog]


def dashboard(farm: FarmConfig) -> dict[str, Any]:
    """The whole dashboard JSON for Grafana's file provisioning (pure)."""
    panels = [moisture_panel(farm, z) for z in farm.zones]
    panels += [irrigation_panel(), battery_panel(farm), *gateway_panels()]
    for n, panel in enumerate(panels):
        panel["id"] = n + 1
        panel["gridPos"] = {"h": 8, "w": 12, "x": 12 * (n % 2), "y": 8 * (n // 2)}
    return {
        "uid": f"smartfarm-{farm.farm.id}"[:40],
        "title": f"smartfarm: {farm.farm.name}",
        "tags": ["smartfarm"],
        "timezone": farm.farm.timezone,
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "1m",
        "time": {"from": "now-7d", "to": "now"},
        "panels": panels,
    }
