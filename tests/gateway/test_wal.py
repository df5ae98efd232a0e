"""The write-ahead log on a real SQLite file: contiguous ids, survives reopening, and its
size shrinks as the forwarder drains it (pure-ish: a temp file, no servers)."""

from __future__ import annotations

from pathlib import Path

from gateway.forwarder import Backoff, to_reading
from gateway.wal import WalReader, WalRow, WalWriter
from smartfarm.stores.base import from_us

T = 1_700_000_000_000_000  # µs since the epoch


def rows(first_id: int, count: int) -> list[WalRow]:
    return [
        (i, T + i, "f", "z1", "s", T + i * 1000, i, 0.25, 2000, 27.0, 3.9, "good")
        for i in range(first_id, first_id + count)
    ]


def test_append_read_forward_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    writer, reader = WalWriter(path), WalReader(path)
    writer.append(rows(1, 100), [(1, "t", b"{", "not_json", "bad")])
    assert writer.last_id == 100
    assert reader.bounds() == (1, 100)
    assert reader.readings_after(0, 10) == rows(1, 10)
    reader.forwarded(10, rejected=[(5, "t", b"r", "store_rejected", "400")])
    assert reader.bounds() == (11, 100)
    assert [d[4] for d in reader.dead_letters(10)] == ["not_json", "store_rejected"]
    writer.close()
    reader.close()
    # As after a crash: a new writer continues the ids where the log ends.
    writer, reader = WalWriter(path), WalReader(path)
    assert writer.last_id == 100
    writer.append(rows(101, 5), [])
    assert reader.readings_after(100, 10) == rows(101, 5)
    assert reader.oldest_received_us() == rows(11, 1)[0][1]
    writer.close()
    reader.close()


def test_logical_size_falls_when_rows_are_forwarded(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    writer, reader = WalWriter(path), WalReader(path)
    empty = writer.logical_bytes()
    writer.append(rows(1, 20_000), [])
    full = writer.logical_bytes()
    assert full > empty + 500_000
    reader.forwarded(20_000)
    assert writer.logical_bytes() < full / 10  # free pages do not count
    writer.close()
    reader.close()


def test_rows_become_readings() -> None:
    [row] = rows(7, 1)
    reading = to_reading(row)
    assert (reading.sensor, reading.seq, reading.raw, reading.quality) == ("s", 7, 2000, "good")
    assert reading.ts == from_us(row[5])


def test_backoff_grows_with_jitter_up_to_its_cap() -> None:
    backoff = Backoff(cap=8.0, first=0.5)
    delays = [backoff.next_delay() for _ in range(8)]
    assert 0.25 <= delays[0] <= 0.5
    assert all(4.0 <= d <= 8.0 for d in delays[5:])
    backoff.reset()
    assert backoff.next_delay() <= 0.5
