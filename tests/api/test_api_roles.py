"""Every endpoint x every role (and nobody): allowed, 401 or 403, from api.access.ACCESS.

SAMPLES holds one call per route; the test fails if the app, the access table and the
samples do not list exactly the same routes, so a new route needs a decided role.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from api.access import ACCESS, route_keys
from smartfarm.stores.users import Role
from tests.api.conftest import ROLES, ApiUnderTest, password_of

FUTURE = (datetime.now(UTC) + timedelta(days=1)).isoformat()
_n = itertools.count()


def _new_user() -> dict[str, Any]:
    return {"username": f"u{next(_n)}", "password": "long-enough-pw", "role": "viewer"}


# (method, path template) -> (concrete path, JSON body or a function making a fresh one).
SAMPLES: dict[tuple[str, str], tuple[str, Any]] = {
    ("POST", "/api/v1/auth/login"): (
        "/api/v1/auth/login",
        {"username": "viewer", "password": password_of("viewer")},
    ),
    ("POST", "/api/v1/auth/logout"): ("/api/v1/auth/logout", None),
    ("GET", "/api/v1/me"): ("/api/v1/me", None),
    ("PATCH", "/api/v1/me"): ("/api/v1/me", {"language": "en"}),
    ("GET", "/api/v1/users"): ("/api/v1/users", None),
    ("POST", "/api/v1/users"): ("/api/v1/users", _new_user),
    ("PATCH", "/api/v1/users/{username}"): ("/api/v1/users/viewer", {"display_name": "Vi"}),
    ("DELETE", "/api/v1/users/{username}"): ("/api/v1/users/{victim}", None),
    ("GET", "/api/v1/farm"): ("/api/v1/farm", None),
    ("GET", "/api/v1/zones"): ("/api/v1/zones", None),
    ("GET", "/api/v1/zones/{zone_id}"): ("/api/v1/zones/z1", None),
    ("GET", "/api/v1/zones/{zone_id}/history"): ("/api/v1/zones/z1/history?range=week", None),
    ("POST", "/api/v1/zones/{zone_id}/water"): ("/api/v1/zones/z1/water", {"minutes": 1}),
    ("POST", "/api/v1/zones/{zone_id}/stop"): ("/api/v1/zones/z1/stop", None),
    ("POST", "/api/v1/zones/{zone_id}/pause"): ("/api/v1/zones/z1/pause", {"until": FUTURE}),
    ("POST", "/api/v1/zones/{zone_id}/resume"): ("/api/v1/zones/z1/resume", None),
    ("POST", "/api/v1/water-everything"): ("/api/v1/water-everything", {"minutes": 1}),
    ("POST", "/api/v1/rain"): ("/api/v1/rain", {"mm": 2}),
    ("POST", "/api/v1/zones/{zone_id}/dry-run"): (
        "/api/v1/zones/z1/dry-run",
        {"days": 1, "start": 0.2, "stop": 0.3},
    ),
    ("GET", "/api/v1/runs"): ("/api/v1/runs", None),
    ("GET", "/api/v1/decisions"): ("/api/v1/decisions", None),
    ("GET", "/api/v1/alarms"): ("/api/v1/alarms?active=false", None),
    ("POST", "/api/v1/alarms/{alarm_id}/ack"): ("/api/v1/alarms/{alarm}/ack", {}),
    ("GET", "/api/v1/dead-letters"): ("/api/v1/dead-letters", None),
    ("GET", "/api/v1/audit"): ("/api/v1/audit", None),
    ("GET", "/api/v1/unknown-devices"): ("/api/v1/unknown-devices", None),
    ("GET", "/api/v1/zones/{zone_id}/thresholds"): ("/api/v1/zones/z1/thresholds", None),
    ("PUT", "/api/v1/zones/{zone_id}/thresholds"): (
        "/api/v1/zones/z1/thresholds",
        {"start_pct": 25, "stop_pct": 31},
    ),
    ("POST", "/api/v1/zones/{zone_id}/thresholds/preview"): (
        "/api/v1/zones/z1/thresholds/preview",
        {"start_pct": 25, "stop_pct": 31, "days": 1},
    ),
    ("GET", "/api/v1/zones/{zone_id}/program"): ("/api/v1/zones/z1/program", None),
    ("PUT", "/api/v1/zones/{zone_id}/program"): (
        "/api/v1/zones/z1/program",
        {"windows": ["05:00-09:00"], "max_run_minutes": 30},
    ),
    ("GET", "/api/v1/devices"): ("/api/v1/devices", None),
    ("PUT", "/api/v1/devices/{device_id}/calibration"): (
        "/api/v1/devices/s-z1-a/calibration",
        {"raw_dry": 3100, "raw_wet": 1250},
    ),
    ("GET", "/api/v1/events"): ("/api/v1/events", None),
    # The farm diary (api/diary.py).
    ("GET", "/api/v1/diary"): ("/api/v1/diary", None),
    ("POST", "/api/v1/diary"): (
        "/api/v1/diary",
        {"zone": "z1", "kind": "fertiliser", "product": "NPK", "quantity": 5, "unit": "kg"},
    ),
    ("GET", "/api/v1/diary.csv"): ("/api/v1/diary.csv", None),
    ("GET", "/api/v1/readings.csv"): ("/api/v1/readings.csv", None),
    ("GET", "/api/v1/trace/print"): ("/api/v1/trace/print", None),
}


# POSTs that change nothing (a replay of past readings), so nothing to audit.
READ_ONLY = {
    ("POST", "/api/v1/zones/{zone_id}/dry-run"),
    ("POST", "/api/v1/zones/{zone_id}/thresholds/preview"),
}


def test_app_routes_access_table_and_samples_agree(api: ApiUnderTest) -> None:
    routes = route_keys(api.app)
    assert routes - ACCESS.keys() == set(), "routes without an access row"
    assert ACCESS.keys() - routes == set(), "access rows without a route"
    assert SAMPLES.keys() == ACCESS.keys()


def _call(api: ApiUnderTest, key: tuple[str, str], headers: dict[str, str]) -> httpx.Response:
    method, _ = key
    path, body = SAMPLES[key]
    if "{victim}" in path:
        victim = _new_user()
        api.users.add(victim["username"], victim["password"], Role.VIEWER, datetime.now(UTC))
        path = path.replace("{victim}", victim["username"])
    if "{alarm}" in path:
        alarm, _ = api.state.raise_alarm("test", f"k{next(_n)}", "test alarm", datetime.now(UTC))
        path = path.replace("{alarm}", str(alarm.id))
    json_body = body() if callable(body) else body
    api.client.cookies.clear()  # the login sample sets one; each call brings its own
    if key == ("GET", "/api/v1/events"):
        with httpx.stream("GET", f"{api.base_url}{path}", headers=headers, timeout=10) as response:
            if response.status_code == 200:
                # The stream opens with its reconnect delay, then runs until we leave.
                assert next(response.iter_lines()) == "retry: 3000"
            else:
                response.read()
            return response
    return api.client.request(method, path, json=json_body, headers=headers)


def test_every_endpoint_for_every_role(api: ApiUnderTest) -> None:
    failures: list[str] = []
    tokens: dict[str, dict[str, str]] = {}
    for key, needed in sorted(ACCESS.items(), key=lambda kv: kv[0][1]):
        for role in (None, *ROLES):
            if role is not None and role not in tokens:
                tokens[role] = api.headers(role)
            headers = {} if role is None else tokens[role]
            if key == ("POST", "/api/v1/auth/logout") and role is not None:
                tokens.pop(role)  # this call ends the session
            audited = len(api.users.audit_entries(1000))
            response = _call(api, key, headers)
            status = response.status_code
            allowed = needed is None or (role is not None and Role.parse(role) >= needed)
            if allowed:
                ok = status not in (401, 403) and status < 500
                if ok and key[0] != "GET" and key not in READ_ONLY and status < 300:
                    # Every state-changing request that succeeded is in the audit log.
                    ok = len(api.users.audit_entries(1000)) > audited
            else:
                ok = status == (401 if role is None else 403)
                code = response.json()["detail"]["code"] if ok else None
                ok = ok and code == ("not_logged_in" if role is None else "forbidden")
            if not ok:
                failures.append(f"{key} as {role}: {status} {response.text[:200]}")
    assert not failures, "\n".join(failures)
