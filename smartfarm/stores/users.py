"""Users, their sessions and the audit log, in the state database (SQLite or PostgreSQL).

Passwords are hashed with argon2id; session tokens are random and stored only as their
SHA-256 (they carry 256 bits of randomness, so a slow hash would add nothing but latency).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from smartfarm.stores.state import create_tables, make_engine

LANGUAGES = ("vi", "en", "pt", "de")
MIN_PASSWORD = 10

metadata = MetaData()
users = Table(
    "users",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("display_name", String(80), nullable=False),
    Column("role", String(16), nullable=False),
    Column("language", String(8), nullable=False),
    Column("password_hash", String(256), nullable=False),
    Column("disabled", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column(
        "username",
        String(64),
        ForeignKey("users.username", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("username", String(64), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(128), nullable=False),
    # JSON text: portable across SQLite and PostgreSQL, and shown as is.
    Column("before", Text),
    Column("after", Text),
)


class Role(IntEnum):
    """Ordered: a role may do everything a lower one may."""

    VIEWER = 1
    FARMER = 2
    TECHNICIAN = 3
    ADMIN = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: str) -> Role:
        try:
            return cls[value.upper()]
        except KeyError:
            known = ", ".join(r.label for r in cls)
            raise ValueError(f"unknown role {value!r}; known: {known}") from None


@dataclass(frozen=True, slots=True)
class User:
    username: str
    display_name: str
    role: Role
    language: str
    disabled: bool = False


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: datetime
    username: str
    action: str
    target: str
    before: Any
    after: Any


class UserError(ValueError):
    """Bad input for a user: names what is wrong, for a 422 or a CLI message."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _utc(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError("password", f"password must have at least {MIN_PASSWORD} characters")


def _check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise UserError("language", f"language must be one of {', '.join(LANGUAGES)}")


def _user(r: Any) -> User:
    return User(r.username, r.display_name, Role.parse(r.role), r.language, bool(r.disabled))


class UserStore:
    def __init__(self, url: str, hasher: PasswordHasher | None = None) -> None:
        self._engine = make_engine(url)
        create_tables(self._engine, metadata)
        self._hasher = hasher or PasswordHasher()
        # Verified against when the user does not exist, so both cases take as long.
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))

    # -- users -----------------------------------------------------------------------------

    def count(self) -> int:
        with self._engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(users)).scalar_one())

    def add(
        self,
        username: str,
        password: str,
        role: Role,
        now: datetime,
        language: str = "vi",
        display_name: str | None = None,
    ) -> User:
        if not username or len(username) > 64 or not username.isprintable() or " " in username:
            raise UserError("username", "username must be 1 to 64 characters without spaces")
        check_password(password)
        _check_language(language)
        row = {
            "username": username,
            "display_name": display_name or username,
            "role": role.label,
            "language": language,
            "password_hash": self._hasher.hash(password),
            "disabled": False,
            "created_at": now,
        }
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(users).values(**row))
        except IntegrityError:
            raise UserError("username", f"user {username!r} already exists") from None
        return User(username, display_name or username, role, language)

    def get(self, username: str) -> User | None:
        with self._engine.connect() as conn:
            r = conn.execute(select(users).where(users.c.username == username)).first()
        return _user(r) if r is not None else None

    def all(self) -> list[User]:
        with self._engine.connect() as conn:
            return [_user(r) for r in conn.execute(select(users).order_by(users.c.username))]

    def update(
        self,
        username: str,
        *,
        role: Role | None = None,
        password: str | None = None,
        language: str | None = None,
        display_name: str | None = None,
        disabled: bool | None = None,
    ) -> User | None:
        values: dict[str, object] = {}
        if role is not None:
            values["role"] = role.label
        if password is not None:
            check_password(password)
            values["password_hash"] = self._hasher.hash(password)
        if language is not None:
            _check_language(language)
            values["language"] = language
        if display_name is not None:
            values["display_name"] = display_name
        if disabled is not None:
            values["disabled"] = disabled
        with self._engine.begin() as conn:
            if values:
                conn.execute(update(users).where(users.c.username == username).values(**values))
            if password is not None or disabled:
                conn.execute(delete(sessions).where(sessions.c.username == username))
        return self.get(username)

    def delete(self, username: str) -> bool:
        with self._engine.begin() as conn:
            conn.execute(delete(sessions).where(sessions.c.username == username))
            return bool(conn.execute(delete(users).where(users.c.username == username)).rowcount)

    def authenticate(self, username: str, password: str) -> User | None:
        """The user if the password is right and the account enabled; else None."""
        with self._engine.connect() as conn:
            r = conn.execute(select(users).where(users.c.username == username)).first()
        try:
            self._hasher.verify(r.password_hash if r is not None else self._dummy, password)
        except (VerificationError, InvalidHashError):
            return None
        if r is None or r.disabled:
            return None
        if self._hasher.check_needs_rehash(r.password_hash):
            self.update(username, password=password)
        return _user(r)

    # -- sessions --------------------------------------------------------------------------

    def open_session(self, username: str, now: datetime, ttl: timedelta) -> tuple[str, datetime]:
        """A new random token for the user and when it expires; only its hash is kept."""
        token = secrets.token_urlsafe(32)
        expires = now + ttl
        with self._engine.begin() as conn:
            conn.execute(delete(sessions).where(sessions.c.expires_at < now))
            conn.execute(
                insert(sessions).values(
                    token_hash=_token_hash(token),
                    username=username,
                    created_at=now,
                    expires_at=expires,
                )
            )
        return token, expires

    def user_for_token(self, token: str, now: datetime) -> User | None:
        query = (
            select(users, sessions.c.expires_at)
            .join(sessions, sessions.c.username == users.c.username)
            .where(sessions.c.token_hash == _token_hash(token))
        )
        with self._engine.connect() as conn:
            r = conn.execute(query).first()
        if r is None or r.disabled or _utc(r.expires_at) <= now:
            return None
        return _user(r)

    def revoke(self, token: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(delete(sessions).where(sessions.c.token_hash == _token_hash(token)))

    # -- audit log -------------------------------------------------------------------------

    def audit(
        self, now: datetime, username: str, action: str, target: str, before: Any, after: Any
    ) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                insert(audit_log).values(
                    at=now,
                    username=username,
                    action=action,
                    target=target[:128],
                    before=None if before is None else json.dumps(before, default=str),
                    after=None if after is None else json.dumps(after, default=str),
                )
            )

    def audit_entries(self, limit: int = 100) -> list[AuditEntry]:
        query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
        with self._engine.connect() as conn:
            return [
                AuditEntry(
                    _utc(r.at),
                    r.username,
                    r.action,
                    r.target,
                    None if r.before is None else json.loads(r.before),
                    None if r.after is None else json.loads(r.after),
                )
                for r in conn.execute(query)
            ]

    def close(self) -> None:
        self._engine.dispose()
