"""`smartfarm users`: add, list, change a password and remove, on the state database."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from smartfarm.stores.users import Role, UserStore


def users_cli(var: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smartfarm", "users", "--var-dir", str(var), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_add_list_password_remove(tmp_path: Path) -> None:
    var = tmp_path / "var"
    added = users_cli(
        var, "add", "minh", "--role", "technician", "--password-stdin", stdin="a-long-password\n"
    )
    assert added.returncode == 0, added.stderr
    assert "user minh added with role technician" in added.stdout
    listed = users_cli(var, "list")
    assert listed.stdout.split() == ["minh", "technician", "vi"]
    changed = users_cli(var, "password", "minh", "--password-stdin", stdin="another-password\n")
    assert changed.returncode == 0, changed.stderr
    store = UserStore(f"sqlite:///{var / 'state.db'}")
    try:
        user = store.authenticate("minh", "another-password")
        assert user is not None and user.role is Role.TECHNICIAN
    finally:
        store.close()
    assert users_cli(var, "remove", "minh").returncode == 0
    assert users_cli(var, "list").stdout == ""


def test_bad_input_is_named(tmp_path: Path) -> None:
    var = tmp_path / "var"
    bad_role = users_cli(var, "add", "lan", "--role", "boss", "--password-stdin", stdin="x" * 12)
    assert bad_role.returncode == 2 and "unknown role 'boss'" in bad_role.stderr
    short = users_cli(var, "add", "lan", "--password-stdin", stdin="short\n")
    assert short.returncode == 2 and "at least 10 characters" in short.stderr
    missing = users_cli(var, "remove", "nobody")
    assert missing.returncode == 2 and "no user 'nobody'" in missing.stderr
