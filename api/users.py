"""The first admin, and `smartfarm users`: manage users from the command line."""

from __future__ import annotations

import getpass
import logging
import os
import secrets
import sys
from datetime import UTC, datetime
from pathlib import Path

from smartfarm.settings import ApiSettings
from smartfarm.stores.users import Role, UserError, UserStore

log = logging.getLogger(__name__)
FIRST_ADMIN_FILE = "first-admin-password"


def ensure_first_admin(users: UserStore, settings: ApiSettings, generate: bool) -> str | None:
    """Create the first admin if there are no users.

    From SMARTFARM_ADMIN_PASSWORD if set; else, if ``generate`` (``smartfarm up``), with a
    random password written to ``<var dir>/first-admin-password`` (0600) and returned so
    the caller shows it once. Otherwise nobody is created and a warning says how to.
    """
    if users.count():
        return None
    now = datetime.now(UTC)
    name = settings.admin_username
    if settings.admin_password is not None:
        users.add(name, settings.admin_password.get_secret_value(), Role.ADMIN, now)
        log.info("first admin %r created from SMARTFARM_ADMIN_PASSWORD", name)
        return None
    if not generate:
        log.warning(
            "no users yet: set SMARTFARM_ADMIN_PASSWORD or run `smartfarm users add NAME "
            "--role admin`; until then nobody can log in"
        )
        return None
    password = secrets.token_urlsafe(12)
    users.add(name, password, Role.ADMIN, now)
    path = settings.var_dir / FIRST_ADMIN_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"{name}\n{password}\n")
    os.chmod(path, 0o600)
    return password


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise UserError("password", "the two passwords differ")
    return first


def users_command(
    settings: ApiSettings, action: str, name: str | None, role: str | None, password_stdin: bool
) -> int:
    """`smartfarm users add|list|remove|password`; messages to stdout, errors raised."""
    users = UserStore(settings.resolved_state_db_url())
    try:
        if action == "list":
            for u in users.all():
                state = " (disabled)" if u.disabled else ""
                sys.stdout.write(f"{u.username}\t{u.role.label}\t{u.language}{state}\n")
            return 0
        if not name:
            raise UserError("name", f"`smartfarm users {action}` needs a user name")
        if action == "add":
            r = Role.parse(role or "farmer")
            users.add(name, _password(password_stdin), r, datetime.now(UTC))
            sys.stdout.write(f"user {name} added with role {r.label}\n")
        elif action == "password":
            if users.update(name, password=_password(password_stdin)) is None:
                raise UserError("name", f"no user {name!r}")
            sys.stdout.write(f"password of {name} changed; their sessions ended\n")
        elif action == "remove":
            if not users.delete(name):
                raise UserError("name", f"no user {name!r}")
            sys.stdout.write(f"user {name} removed\n")
        return 0
    finally:
        users.close()


def show_first_admin(password: str, settings: ApiSettings) -> None:
    """Shown once, on the console of `smartfarm up`."""
    path = Path(settings.var_dir) / FIRST_ADMIN_FILE
    sys.stdout.write(
        f"\nFirst admin created: user {settings.admin_username!r}, password {password}\n"
        f"(also in {path}, readable only by you; change it after logging in)\n\n"
    )
    sys.stdout.flush()
