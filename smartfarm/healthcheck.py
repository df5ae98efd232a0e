"""Heartbeat files: each long-running process touches ``<var_dir>/<name>.alive``.

The services call :func:`touch_alive` every few seconds; a container healthcheck runs
``python -m smartfarm.healthcheck gateway`` which exits 0 when the heartbeat is fresh and 1
(with a one-line reason on stderr) when it is stale or missing. No port, no broker, no
settings validation: only ``SMARTFARM_VAR_DIR`` (default ``var``) is read.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

MAX_AGE_SECONDS = 30.0
DEFAULT_VAR_DIR = "var"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


def alive_path(var_dir: Path, name: str) -> Path:
    """``<var_dir>/<name>.alive``; ``name`` is a plain word, never a path."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"bad process name {name!r}: use letters, digits, '_' or '-'")
    return var_dir / f"{name}.alive"


def touch_alive(var_dir: Path, name: str) -> None:
    """Create or refresh the heartbeat file of process ``name`` (creates ``var_dir``)."""
    path = alive_path(var_dir, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(exist_ok=True)  # sets mtime to now, also when the file exists


def check_alive(var_dir: Path, name: str, max_age: float = MAX_AGE_SECONDS) -> str | None:
    """None when the heartbeat is younger than ``max_age`` seconds, else the reason why not."""
    path = alive_path(var_dir, name)
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        return f"{name}: no heartbeat file {path}"
    except OSError as err:
        return f"{name}: cannot read heartbeat file {path}: {err.strerror or err}"
    age = time.time() - mtime
    if age >= max_age:
        return f"{name}: heartbeat {path} is {age:.0f}s old (limit {max_age:g}s)"
    return None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m smartfarm.healthcheck",
        description="Exit 0 if <var dir>/<name>.alive was touched recently, else 1.",
    )
    parser.add_argument("name", help="process name: gateway, controller or sim")
    parser.add_argument(
        "--var-dir",
        type=Path,
        help=f"directory of the heartbeat files (SMARTFARM_VAR_DIR, default {DEFAULT_VAR_DIR})",
    )
    parser.add_argument(
        "--max-age",
        type=float,
        default=MAX_AGE_SECONDS,
        help=f"seconds after which a heartbeat is stale ({MAX_AGE_SECONDS:g})",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    var_dir: Path = args.var_dir or Path(os.environ.get("SMARTFARM_VAR_DIR") or DEFAULT_VAR_DIR)
    try:
        reason = check_alive(var_dir, args.name, args.max_age)
    except ValueError as err:
        reason = str(err)
    if reason is None:
        return 0
    sys.stderr.write(f"unhealthy: {reason}\n")
    return 1


if __name__ == "__main__":
    raise SystemExit(main())
