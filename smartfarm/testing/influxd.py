"""An InfluxDB 1.x server of our own: own ports, own config, own temp dir; restartable."""

from __future__ import annotations

import json
import logging
import subprocess
import time
from pathlib import Path

import httpx

from smartfarm.testing.ports import free_port
from smartfarm.testing.processes import terminate

log = logging.getLogger(__name__)

INFLUXD = Path("/usr/bin/influxd")


def _quote_ident(name: str) -> str:
    """An InfluxQL double-quoted identifier."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _toml(path: Path) -> str:
    """A TOML basic string; JSON's string escapes are valid TOML."""
    return json.dumps(str(path))


class InfluxdServer:
    """Runs ``influxd -config <conf>`` with HTTP on a free loopback port, auth disabled."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        # influxd also binds an RPC port (backup/restore); its default 8088 may be taken.
        self.rpc_port = free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "influxd.log"

    def start(self) -> None:
        if self._proc is not None:
            return
        if not INFLUXD.exists():
            raise RuntimeError(f"{INFLUXD} is not installed: apt-get install influxdb")
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "influxdb.conf"
        conf.write_text(self._config())
        with self.log_path.open("ab") as out:
            self._proc = subprocess.Popen(
                [str(INFLUXD), "-config", str(conf)], stdout=out, stderr=subprocess.STDOUT
            )
        try:
            self._wait_ready(timeout=20.0)
        except RuntimeError:
            self.stop()
            raise

    def _config(self) -> str:
        # Everything but HTTP is off: no listeners beyond our two ports, no _internal
        # database, no phoning home; logs at warn so a test run's log stays readable.
        d = self.workdir
        return f"""\
reporting-enabled = false
bind-address = "127.0.0.1:{self.rpc_port}"

[meta]
  dir = {_toml(d / "meta")}
  logging-enabled = false

[data]
  dir = {_toml(d / "data")}
  wal-dir = {_toml(d / "wal")}
  query-log-enabled = false

[monitor]
  store-enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:{self.port}"
  auth-enabled = false
  log-enabled = false

[ifql]
  enabled = false

[subscriber]
  enabled = false

[continuous_queries]
  enabled = false

[logging]
  level = "warn"
  suppress-logo = true
"""

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                last = f"influxd exited with {self._proc.returncode}"
                break
            try:
                response = httpx.get(f"{self.url}/ping", timeout=1.0)
                if response.status_code == 204:
                    return
                last = f"HTTP {response.status_code}"
            except httpx.HTTPError as err:
                last = str(err) or type(err).__name__
            time.sleep(0.05)
        tail = self.log_tail()
        raise RuntimeError(f"influxd did not answer /ping on {self.url}: {last}\n{tail}")

    def log_tail(self, chars: int = 2000) -> str:
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-chars:]

    def create_database(self, name: str) -> None:
        """``CREATE DATABASE`` (a no-op if it exists)."""
        response = httpx.post(
            f"{self.url}/query", data={"q": f"CREATE DATABASE {_quote_ident(name)}"}, timeout=10
        )
        body = response.json() if response.content else {}
        errors = [r["error"] for r in body.get("results", []) if "error" in r]
        if response.status_code != 200 or "error" in body or errors:
            raise RuntimeError(
                f"CREATE DATABASE {name!r}: HTTP {response.status_code}: {json.dumps(body)}"
            )

    def stop(self) -> None:
        if self._proc is not None:
            terminate(self._proc, f"influxd on {self.url}")
            self._proc = None

    def __enter__(self) -> InfluxdServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
