"""The gateway's write-ahead log: a SQLite file in WAL mode, one writer, one forwarder.

A reading is acknowledged to the broker only after the transaction holding it committed
with ``synchronous=FULL`` (fsync). One transaction holds every message that arrived while
the previous one was being written (group commit), so durability costs one fsync per
group, not per message. The forwarder deletes rows only after the store confirmed them;
its deletes skip the fsync, since losing one only means writing a reading again, which
the store ignores.

Row ids are given by the single writer, in arrival order, so the log is always the
contiguous range of ids after the last one forwarded.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path

# (id, received_us, farm, zone, sensor, ts_us, seq, vwc, raw, temp_c, battery_v, quality)
WalRow = tuple[
    int, int, str, str, str, int, int, float, int | None, float | None, float | None, str
]
# (received_us, topic, payload, reason, detail)
LetterRow = tuple[int, str, bytes, str, str]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (
    id INTEGER PRIMARY KEY,
    received_us INTEGER NOT NULL,
    farm TEXT NOT NULL,
    zone TEXT NOT NULL,
    sensor TEXT NOT NULL,
    ts_us INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    vwc REAL NOT NULL,
    raw INTEGER,
    temp_c REAL,
    battery_v REAL,
    quality TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY,
    received_us INTEGER NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL
);
"""
_INSERT_READING = "INSERT INTO readings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_INSERT_LETTER = (
    "INSERT INTO dead_letters (received_us, topic, payload, reason, detail) VALUES (?, ?, ?, ?, ?)"
)


class WalFull(Exception):
    """The disk under the log is full: nothing more can be made durable for now."""


def _connect(path: Path, synchronous: str) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Autocommit mode: transactions are opened and committed explicitly below. Each
    # connection is used by one thread only.
    conn = sqlite3.connect(path, isolation_level=None, timeout=30.0, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.executescript(_SCHEMA)
    return conn


def _is_disk_full(err: sqlite3.OperationalError) -> bool:
    return "full" in str(err).lower()


class WalWriter:
    """Appends groups of readings and dead letters, durably, in one transaction each."""

    def __init__(self, path: Path) -> None:
        self._conn = _connect(path, "FULL")
        self._page_size = int(self._conn.execute("PRAGMA page_size").fetchone()[0])
        last = self._conn.execute("SELECT max(id) FROM readings").fetchone()[0]
        self.last_id: int = int(last or 0)

    def append(self, rows: Sequence[WalRow], letters: Sequence[LetterRow]) -> None:
        """Make rows (ids from ``last_id + 1`` on, in order) and letters durable, or raise."""
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                if rows:
                    conn.executemany(_INSERT_READING, rows)
                if letters:
                    conn.executemany(_INSERT_LETTER, letters)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as err:
            if _is_disk_full(err):
                raise WalFull(str(err)) from err
            raise
        if rows:
            self.last_id = rows[-1][0]

    def logical_bytes(self) -> int:
        """Bytes the log's data takes (free pages left by forwarded rows do not count)."""
        pages = self._conn.execute("PRAGMA page_count").fetchone()[0]
        free = self._conn.execute("PRAGMA freelist_count").fetchone()[0]
        return (int(pages) - int(free)) * self._page_size

    def close(self) -> None:
        self._conn.close()


class WalReader:
    """The forwarder's side: read the oldest rows, delete them once the store has them."""

    def __init__(self, path: Path) -> None:
        self._conn = _connect(path, "NORMAL")

    def bounds(self) -> tuple[int, int] | None:
        """(first id, last id) of the readings waiting, or None."""
        first, last = self._conn.execute("SELECT min(id), max(id) FROM readings").fetchone()
        return None if first is None else (int(first), int(last))

    def oldest_received_us(self) -> int | None:
        row = self._conn.execute("SELECT received_us FROM readings ORDER BY id LIMIT 1").fetchone()
        return None if row is None else int(row[0])

    def readings_after(self, after_id: int, limit: int) -> list[WalRow]:
        cursor = self._conn.execute(
            "SELECT * FROM readings WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit)
        )
        return cursor.fetchall()

    def forwarded(self, through_id: int, rejected: Sequence[LetterRow] = ()) -> None:
        """Drop readings up to ``through_id``; the ones the store refused become letters."""
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            if rejected:
                conn.executemany(_INSERT_LETTER, rejected)
            conn.execute("DELETE FROM readings WHERE id <= ?", (through_id,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def dead_letters(self, limit: int) -> list[tuple[int, int, str, bytes, str, str]]:
        cursor = self._conn.execute("SELECT * FROM dead_letters ORDER BY id LIMIT ?", (limit,))
        return cursor.fetchall()

    def drop_dead_letters(self, through_id: int) -> None:
        self._conn.execute("DELETE FROM dead_letters WHERE id <= ?", (through_id,))

    def close(self) -> None:
        self._conn.close()


class LogProgress:
    """What the writer has logged, so the forwarder can wait for a due batch without
    reading the log each time a group is committed."""

    def __init__(self, last_id: int) -> None:
        self.cond = threading.Condition()
        self.last_id = last_id
        # (last id of a group, monotonic time it was committed), oldest first.
        self._groups: deque[tuple[int, float]] = deque()

    def logged(self, last_id: int) -> None:
        with self.cond:
            self._groups.append((last_id, time.monotonic()))
            self.last_id = last_id
            self.cond.notify_all()

    def oldest_since(self, forwarded_id: int) -> float | None:
        """When the oldest row after ``forwarded_id`` was committed; None if there is none.

        Rows left from before a restart count as committed long ago. Call with ``cond`` held.
        """
        while self._groups and self._groups[0][0] <= forwarded_id:
            self._groups.popleft()
        if self.last_id <= forwarded_id:
            return None
        return self._groups[0][1] if self._groups else float("-inf")
