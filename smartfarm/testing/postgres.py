"""A database of our own on a running PostgreSQL server (the one on 127.0.0.1:5432 in CI).

Each test gets a fresh database with a random name, dropped afterwards, so tests never see
each other's data nor touch the server's other databases.
"""

from __future__ import annotations

import os
import uuid

import psycopg
from psycopg import sql

ADMIN_URL = os.environ.get(
    "SMARTFARM_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


class PostgresDatabase:
    def __init__(self, admin_url: str = ADMIN_URL) -> None:
        self.admin_url = admin_url
        self.name = f"smartfarm_test_{uuid.uuid4().hex[:12]}"

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the new database (psycopg 3 driver)."""
        base = self.admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
        return f"{base}/{self.name}"

    def create(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))

    def drop(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name))
            )
