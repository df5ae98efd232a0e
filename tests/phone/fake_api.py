"""A canned, in-memory stand-in for /api/v1 (per /work/contract-api.md) plus the static files,
for the UI-level browser tests of the phone page.

It exists only to put the page into states that are slow or hard to reach with the real system
(a stale reading, an offline valve, a refused press, a rate-limited login, a server that goes
away). The real API, broker and controller are driven by tests/test_phone_e2e.py.
"""

from __future__ import annotations

import json
import mimetypes
import re
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

STATIC = Path(__file__).resolve().parents[2] / "api" / "static"
COOKIE = "smartfarm_session"
ROLES = ["viewer", "farmer", "technician", "admin"]


def iso(t: datetime) -> str:
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def valve(zone: str, state: str, **kw: Any) -> dict[str, Any]:
    return {
        "id": f"v-{zone}",
        "state": state,
        "since": None,
        "until": None,
        "command_id": None,
    } | kw


def demo_zones() -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    ago = lambda **kw: iso(now - timedelta(**kw))  # noqa: E731
    base = {"crop": "coffee", "crop_estimate": False, "soil": "clay_loam", "moisture_stale": False}
    coffee = {"start": 0.304, "stop": 0.346}
    return [
        base
        | {
            "id": "z1",
            "name": "Cà phê lô 1",
            "thresholds": coffee,
            "moisture": 0.31,
            "moisture_at": ago(minutes=2),
            "valve": valve(
                "z1",
                "open",
                since=ago(minutes=5),
                until=iso(now + timedelta(minutes=55)),
                command_id="abc",
            ),
            "next_run_at": None,
            "last_alarm": None,
            "last_decision": {
                "ts": iso(now.replace(hour=5, minute=10, second=0, microsecond=0)),
                "zone": "z1",
                "action": "open",
                "code": "open_auto",
                "reason": "open for 20 min "
                "(moisture 21.0% below start threshold 23.0%, water up to 27.0%)",
                "by": "controller",
                "duration_s": 1200,
            },
        },
        base
        | {
            "id": "z2",
            "name": "Cà phê lô 2",
            "thresholds": coffee,
            "moisture": 0.252,
            "moisture_at": ago(seconds=40),
            "valve": valve("z2", "closed"),
            "next_run_at": iso(now + timedelta(hours=3)),
            "last_alarm": None,
            "last_decision": None,
        },
        base
        | {
            "id": "z3",
            "name": "Hồ tiêu",
            "crop": "black_pepper",
            "crop_estimate": True,
            "soil": "loam",
            "thresholds": {"start": 0.22, "stop": 0.27},
            "moisture": 0.301,
            "moisture_at": ago(minutes=40),
            "moisture_stale": True,
            "valve": valve("z3", "closed", command_id="c3"),
            "next_run_at": None,
            "last_alarm": None,
            "last_decision": {
                "ts": ago(minutes=5),
                "zone": "z3",
                "action": "close",
                "code": "reached_stop",
                "reason": "moisture 27.2% reached stop threshold 27.0%",
                "by": "controller",
            },
        },
        base
        | {
            "id": "z4",
            "name": "Điều",
            "crop": "cashew",
            "crop_estimate": True,
            "soil": "sandy_loam",
            "thresholds": {"start": 0.12, "stop": 0.16},
            "moisture": None,
            "moisture_at": None,
            "moisture_stale": True,
            "valve": valve("z4", "offline"),
            "next_run_at": None,
            "last_alarm": {
                "id": 7,
                "raised_at": ago(minutes=30),
                "source": "controller",
                "kind": "valve_fault",
                "zone": "z4",
                "message": "valve v-z4 did not confirm after 3 tries: marked faulty",
                "active": True,
            },
            "last_decision": None,
        },
    ]


class FakeApi:
    """The API's state in memory. Valves answer `delay` seconds after a press, except offline
    ones, which never answer."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.farm = {"id": "demo-farm", "name": "Vườn Ea Tu", "default_language": "vi"}
        self.zones = demo_zones()
        self.users: dict[str, dict[str, Any]] = {}
        self.passwords: dict[str, str] = {}
        self.sessions: dict[str, str] = {}  # token -> username
        self.posts: list[tuple[str, str, Any]] = []
        self.audit: list[dict[str, Any]] = []
        self.refuse: dict[str, tuple[int, Any]] = {}  # zone id -> (status, detail)
        self.login_refusal: tuple[int, Any, dict[str, str]] | None = None
        self.down = False  # every /api/v1 GET answers 503 while True
        self.delay = 0.8
        self.thresholds: dict[str, dict[str, Any]] = {}
        self._due: list[tuple[datetime, str, dict[str, Any]]] = []
        self.outbox: list[tuple[str, Any]] = []  # events for the /events streams
        self.closing = threading.Event()
        self.url = ""
        for name, role in [
            ("lan", "farmer"),
            ("minh", "technician"),
            ("admin", "admin"),
            ("xem", "viewer"),
        ]:
            self.add_user(name, role, "vi")

    def add_user(self, name: str, role: str, language: str) -> None:
        self.users[name] = {
            "username": name,
            "display_name": name.title(),
            "role": role,
            "language": language,
        }
        self.passwords[name] = f"{name}-password"

    def zone(self, zone_id: str) -> dict[str, Any] | None:
        return next((z for z in self.zones if z["id"] == zone_id), None)

    def apply_due(self) -> None:
        """Valves that answer now change state, and say so on the event stream (as MQTT does)."""
        now = datetime.now(UTC)
        for due in [d for d in self._due if d[0] <= now]:
            self._due.remove(due)
            zone = self.zone(due[1])
            if zone is not None:
                zone["valve"] = due[2]
                event = {"zone_id": due[1], "valve_id": due[2]["id"], "state": due[2]["state"]}
                self.outbox.append(("valve", event | {"at": due[2]["since"]}))

    def zone_list(self) -> list[dict[str, Any]]:
        self.apply_due()
        return self.zones

    def command(self, zone_id: str, action: str, body: Any) -> tuple[int, Any]:
        zone = self.zone(zone_id)
        if zone is None:
            return 404, {
                "detail": {"code": "not_found", "message": f"zone {zone_id!r} does not exist"}
            }
        if zone_id in self.refuse:
            status, detail = self.refuse[zone_id]
            return status, {"detail": detail}
        self.posts.append((zone_id, action, body))
        request_id = f"r{len(self.posts)}"
        if action in ("water", "stop") and zone["valve"]["state"] != "offline":
            at = datetime.now(UTC) + timedelta(seconds=self.delay)
            new = {**zone["valve"], "command_id": request_id, "since": iso(at)}
            if action == "water":
                new |= {"state": "open", "until": iso(at + timedelta(minutes=body["minutes"]))}
            else:
                new |= {"state": "closed", "until": None}
            self._due.append((at, zone_id, new))
        return 202, {"request_id": request_id}

    def thresholds_of(self, zone_id: str) -> dict[str, Any]:
        zone = self.zone(zone_id)
        assert zone is not None
        preset = {
            "start_pct": zone["thresholds"]["start"] * 100,
            "stop_pct": zone["thresholds"]["stop"] * 100,
        }
        return self.thresholds.get(zone_id) or {**preset, "source": "preset", "preset": preset}

    def history(self, zone_id: str, range_: str) -> dict[str, Any]:
        zone = self.zone(zone_id)
        assert zone is not None
        end = datetime.now(UTC)
        hours = {"day": 24, "week": 168, "season": 24 * 120}[range_]
        start = end - timedelta(hours=hours)
        step = timedelta(minutes=20) if range_ == "day" else timedelta(hours=1)
        points, t, v = [], start, 0.33
        while t <= end:
            v = v - 0.002 if v > 0.29 else 0.345
            point = {"ts": iso(t), "sensor": f"s-{zone_id}", "vwc": round(v, 4)}
            if range_ != "day":  # hourly means carry the hour's lowest and highest
                point |= {"vwc_min": round(v - 0.004, 4), "vwc_max": round(v + 0.004, 4)}
            points.append(point)
            t += step
        runs = [
            {
                "start": iso(end - timedelta(hours=h)),
                "end": iso(end - timedelta(hours=h - 0.4)),
                "litres": 120.0,
            }
            for h in (6, 18)
        ]
        return {
            "zone": zone_id,
            "start": iso(start),
            "end": iso(end),
            "range": range_,
            "resolution": "raw" if range_ == "day" else "hour",
            "points": points,
            "thresholds": zone["thresholds"],
            "irrigation": runs,
        }

    def decisions(self, zone_id: str) -> list[dict[str, Any]]:
        zone = self.zone(zone_id)
        first = [zone["last_decision"]] if zone and zone["last_decision"] else []
        now = datetime.now(UTC)
        return [
            *first,
            {
                "ts": iso(now - timedelta(hours=2)),
                "zone": zone_id,
                "action": "hold",
                "code": "in_band",
                "reason": "moisture 31.0%, start threshold 30.4%",
                "by": "controller",
            },
            {
                "ts": iso(now - timedelta(hours=3)),
                "zone": zone_id,
                "action": "skip",
                "code": "rain",
                "reason": "moisture 29.0% below start threshold 30.4%, "
                "but it rained 12.0 mm in the last 24 h",
                "by": "controller",
            },
            {
                "ts": iso(now - timedelta(hours=4)),
                "zone": zone_id,
                "action": "skip",
                "code": "some_new_rule",
                "reason": "a rule this page does not know yet",
                "by": "controller",
            },
        ]

    def log(self, user: str, action: str, target: str, before: Any, after: Any) -> None:
        at = iso(datetime.now(UTC))
        self.audit.insert(
            0,
            {
                "at": at,
                "username": user,
                "action": action,
                "target": target,
                "before": before,
                "after": after,
            },
        )


def error(code: str, message: str) -> dict[str, Any]:
    return {"detail": {"code": code, "message": message}}


MIN_ROLE = [  # (method, path regex, role)
    ("GET", r"/api/v1/users", "admin"),
    ("GET", r"/api/v1/audit", "technician"),
    (
        "POST",
        r"/api/v1/(zones/[^/]+/(water|stop|pause|resume)|water-everything|alarms/\d+/ack)",
        "farmer",
    ),
    ("PUT", r"/api/v1/.*", "technician"),
    ("POST", r"/api/v1/zones/[^/]+/thresholds/preview", "technician"),
    ("(POST|PATCH|DELETE)", r"/api/v1/users.*", "admin"),
]


def allowed(api: FakeApi, method: str, path: str, user: dict[str, Any]) -> bool:
    for m, pattern, role in MIN_ROLE:
        if re.fullmatch(m, method) and re.fullmatch(pattern, path):
            return ROLES.index(user["role"]) >= ROLES.index(role)
    return True


class Handler(BaseHTTPRequestHandler):
    api: FakeApi  # set by serve()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def reply(
        self, status: int, body: bytes, kind: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        body = b"" if status == 204 else json.dumps(data).encode()
        self.reply(status, body, "application/json", headers)

    def file(self, name: str) -> None:
        path = (STATIC / name).resolve()
        if not path.is_file() or not path.is_relative_to(STATIC):
            return self.json(404, {"detail": "Not Found"})
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if path.suffix == ".webmanifest":
            kind = "application/manifest+json"
        if kind.startswith("text/") or kind.endswith(("javascript", "json", "+xml")):
            kind += "; charset=utf-8"
        self.reply(200, path.read_bytes(), kind)

    def user(self) -> dict[str, Any] | None:
        cookies = dict(
            part.strip().split("=", 1)
            for part in (self.headers.get("Cookie") or "").split(";")
            if "=" in part
        )
        name = self.api.sessions.get(cookies.get(COOKIE, ""))
        return self.api.users.get(name) if name else None

    def body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length)) if length else None

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/":
            return self.file("index.html")
        if url.path.startswith("/static/"):
            return self.file(url.path.removeprefix("/static/"))
        self.api_call("GET", url.path, parse_qs(url.query), None)

    def do_POST(self) -> None:
        self.api_call("POST", urlsplit(self.path).path, {}, self.body())

    def do_PUT(self) -> None:
        self.api_call("PUT", urlsplit(self.path).path, {}, self.body())

    def do_PATCH(self) -> None:
        self.api_call("PATCH", urlsplit(self.path).path, {}, self.body())

    def do_DELETE(self) -> None:
        self.api_call("DELETE", urlsplit(self.path).path, {}, None)

    def api_call(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> None:
        api = self.api
        if path == "/api/v1/auth/login" and method == "POST":
            return self.login(body)
        user = self.user()
        if user is None:
            return self.json(401, error("not_logged_in", "log in first"))
        if not allowed(api, method, path, user):
            return self.json(403, error("forbidden", f"a {user['role']} may not do this"))
        if method == "GET" and api.down:
            return self.json(503, {"detail": "down for the test"})
        if path == "/api/v1/events":
            return self.events()
        with api.lock:
            status, data = route(api, method, path, query, body, user)
        self.json(status, data)

    def login(self, body: dict[str, Any]) -> None:
        api = self.api
        if api.login_refusal:
            status, data, headers = api.login_refusal
            return self.json(status, data, headers)
        name = body.get("username", "")
        if api.passwords.get(name) != body.get("password"):
            return self.json(401, error("bad_credentials", "wrong user name or password"))
        token = f"t-{name}-{len(api.sessions)}"
        api.sessions[token] = name
        cookie = f"{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/"
        data = {
            "token": token,
            "expires_at": iso(datetime.now(UTC) + timedelta(days=7)),
            "user": api.users[name],
        }
        self.json(200, data, {"Set-Cookie": cookie})

    def events(self) -> None:
        """Server-Sent Events: sends what the test put in `api.outbox`, one stream per page."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        sent = len(self.api.outbox)
        try:
            self.wfile.write(b"retry: 1000\n\n")
            self.wfile.flush()
            while not self.api.closing.wait(0.1) and not self.api.down:
                with self.api.lock:
                    self.api.apply_due()
                for kind, data in self.api.outbox[sent:]:
                    self.wfile.write(f"event: {kind}\ndata: {json.dumps(data)}\n\n".encode())
                    sent += 1
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            return


def route(
    api: FakeApi,
    method: str,
    path: str,
    query: dict[str, list[str]],
    body: Any,
    user: dict[str, Any],
) -> tuple[int, Any]:
    who = user["username"]
    if path == "/api/v1/me":
        if method == "PATCH":
            user.update({k: v for k, v in body.items() if k in ("language", "display_name")})
        return 200, user
    if path == "/api/v1/auth/logout":
        for token in [t for t, u in api.sessions.items() if u == who]:
            del api.sessions[token]
        return 204, None
    if path == "/api/v1/farm":
        return 200, api.farm
    if path == "/api/v1/zones":
        return 200, api.zone_list()
    if path == "/api/v1/water-everything":
        api.posts.append(("*", "water-everything", body))
        return 202, {"request_id": "all"}
    if path == "/api/v1/decisions":
        return 200, api.decisions(query["zone"][0])
    if path == "/api/v1/alarms":
        return 200, [z["last_alarm"] for z in api.zones if z["last_alarm"]]
    if m := re.fullmatch(r"/api/v1/alarms/(\d+)/ack", path):
        for z in api.zones:
            if z["last_alarm"] and z["last_alarm"]["id"] == int(m[1]):
                z["last_alarm"] |= {
                    "acknowledged_by": who,
                    "acknowledged_at": iso(datetime.now(UTC)),
                }
                return 200, z["last_alarm"]
        return 404, error("not_found", "no such alarm")
    if path == "/api/v1/devices":
        now = datetime.now(UTC)
        return 200, [
            {
                "device_id": "s-z1",
                "kind": "sensor",
                "zone_id": "z1",
                "battery_pct": 81,
                "last_seen": iso(now),
                "rssi_dbm": -71,
                "online": True,
                "calibration": {"dry_raw": 3100, "wet_raw": 1400},
            },
            {
                "device_id": "v-z4",
                "kind": "valve",
                "zone_id": "z4",
                "battery_pct": None,
                "last_seen": iso(now - timedelta(hours=5)),
                "online": False,
            },
        ]
    if path == "/api/v1/audit":
        return 200, api.audit
    if path == "/api/v1/users":
        if method == "POST":
            api.add_user(body["username"], body["role"], body.get("language", "vi"))
            api.log(who, "user.add", f"user {body['username']}", None, body["role"])
            return 201, api.users[body["username"]]
        return 200, list(api.users.values())
    if m := re.fullmatch(r"/api/v1/zones/([^/]+)(?:/(.+))?", path):
        return zone_route(api, method, m[1], m[2] or "", query, body, who)
    return 404, {"detail": "Not Found"}


def zone_route(
    api: FakeApi,
    method: str,
    zone_id: str,
    rest: str,
    query: dict[str, list[str]],
    body: Any,
    who: str,
) -> tuple[int, Any]:
    if api.zone(zone_id) is None:
        return 404, error("not_found", f"zone {zone_id!r} does not exist")
    if rest in ("water", "stop", "pause", "resume"):
        return api.command(zone_id, rest, body)
    if rest == "history":
        return 200, api.history(zone_id, query.get("range", ["day"])[0])
    if rest == "thresholds" and method == "PUT":
        before = api.thresholds_of(zone_id)
        after = {**before, **body, "source": "override"}
        api.thresholds[zone_id] = after
        old = {k: before[k] for k in ("start_pct", "stop_pct")}
        api.log(who, "zone.thresholds", f"zone {zone_id}", old, body)
        return 200, after
    if rest == "thresholds":
        return 200, api.thresholds_of(zone_id)
    if rest == "thresholds/preview":
        return 200, {
            "minutes": 140.0,
            "litres": 420.0,
            "runs": [{}, {}, {}],
            "actual_minutes": 180.0,
            "actual_litres": 540.0,
        }
    if rest == "program":
        program = {
            "windows": ["05:00-09:00"],
            "min_off_minutes": 30,
            "max_run_minutes": 60,
            "max_daily_minutes": 240,
            "max_daily_litres": None,
            "cycle_minutes": None,
            "soak_minutes": None,
            "fallback_schedule": [],
        }
        return 200, body if method == "PUT" else program
    return 404, {"detail": "Not Found"}


def serve(api: FakeApi) -> tuple[ThreadingHTTPServer, threading.Thread]:
    handler = type("BoundHandler", (Handler,), {"api": api})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    api.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread
