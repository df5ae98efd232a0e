"""The state store on real SQLite: alarms raise once, clear, acknowledge; decisions log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from smartfarm.models import Action, DecisionRecord
from smartfarm.stores.state import StateStore

T0 = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)


def test_alarm_raised_once_cleared_and_acknowledged(tmp_path: Path) -> None:
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        alarm, new = store.raise_alarm("controller", "sensor_fault", "z1: no reading", T0, "z1")
        assert new and alarm.id is not None
        again, new_again = store.raise_alarm("controller", "sensor_fault", "still", T0, "z1")
        assert (again.id, new_again, again.message) == (alarm.id, False, "z1: no reading")
        other, new_other = store.raise_alarm("controller", "sensor_fault", "z2", T0, "z2")
        assert new_other and other.id != alarm.id
        acked = store.acknowledge_alarm(alarm.id, "tech Minh", T0 + timedelta(minutes=1))
        assert acked is not None and acked.acknowledged_by == "tech Minh"
        assert store.clear_alarm("controller", "sensor_fault", T0, "z1") == 1
        assert [a.zone for a in store.alarms()] == ["z2"]
        history = store.alarms(active_only=False)
        assert {a.zone: a.active for a in history} == {"z1": False, "z2": True}
        _, farm_wide = store.raise_alarm("gateway", "disk_budget", "log full", T0)
        assert farm_wide and store.clear_alarm("gateway", "disk_budget", T0) == 1
    finally:
        store.close()


def test_decisions_newest_first_per_zone(tmp_path: Path) -> None:
    store = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        for i, zone in enumerate(["z1", "z2", "z1"]):
            store.add_decision(
                DecisionRecord(T0 + timedelta(minutes=i), zone, Action.HOLD, f"r{i}")
            )
        assert [d.reason for d in store.decisions("z1")] == ["r2", "r0"]
        assert store.decisions("z1")[0].ts == T0 + timedelta(minutes=2)
    finally:
        store.close()
