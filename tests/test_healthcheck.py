"""The heartbeat files behind the containers' healthchecks (smartfarm.healthcheck)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from smartfarm.healthcheck import MAX_AGE_SECONDS, main, touch_alive

ROOT = Path(__file__).resolve().parent.parent


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_fresh_heartbeat_is_healthy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    touch_alive(tmp_path, "gateway")
    assert main(["gateway", "--var-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().err == ""


def test_touch_alive_creates_the_var_dir_and_refreshes_an_old_file(tmp_path: Path) -> None:
    var_dir = tmp_path / "not" / "yet"
    touch_alive(var_dir, "controller")
    path = var_dir / "controller.alive"
    assert path.is_file()
    _age(path, 3600)
    touch_alive(var_dir, "controller")
    assert time.time() - path.stat().st_mtime < 5


def test_old_heartbeat_is_unhealthy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    touch_alive(tmp_path, "gateway")
    _age(tmp_path / "gateway.alive", MAX_AGE_SECONDS + 5)
    assert main(["gateway", "--var-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "gateway" in err
    assert "old" in err


def test_just_under_the_limit_is_healthy(tmp_path: Path) -> None:
    touch_alive(tmp_path, "sim")
    _age(tmp_path / "sim.alive", MAX_AGE_SECONDS - 5)
    assert main(["sim", "--var-dir", str(tmp_path)]) == 0


def test_missing_heartbeat_is_unhealthy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    touch_alive(tmp_path, "gateway")  # another process's heartbeat does not count
    assert main(["controller", "--var-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert "controller" in err
    assert "no heartbeat" in err


def test_missing_var_dir_is_unhealthy(tmp_path: Path) -> None:
    assert main(["gateway", "--var-dir", str(tmp_path / "absent")]) == 1


def test_var_dir_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMARTFARM_VAR_DIR", str(tmp_path))
    assert main(["gateway"]) == 1
    touch_alive(tmp_path, "gateway")
    assert main(["gateway"]) == 0


def test_default_var_dir_is_var_under_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SMARTFARM_VAR_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    touch_alive(Path("var"), "sim")
    assert (tmp_path / "var" / "sim.alive").is_file()
    assert main(["sim"]) == 0


@pytest.mark.parametrize("name", ["../etc/passwd", "a/b", "", ".hidden"])
def test_a_name_is_never_a_path(
    tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([name, "--var-dir", str(tmp_path)]) == 1
    assert "bad process name" in capsys.readouterr().err
    with pytest.raises(ValueError):
        touch_alive(tmp_path, name)


def test_runs_as_a_module_like_the_container_healthcheck(tmp_path: Path) -> None:
    env = {**os.environ, "SMARTFARM_VAR_DIR": str(tmp_path)}
    command = [sys.executable, "-m", "smartfarm.healthcheck", "gateway"]
    missing = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert missing.returncode == 1
    assert missing.stderr.startswith("unhealthy: gateway: no heartbeat file")
    assert missing.stderr.count("\n") == 1
    touch_alive(tmp_path, "gateway")
    fresh = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert (fresh.returncode, fresh.stdout, fresh.stderr) == (0, "", "")
