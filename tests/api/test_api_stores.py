"""Users, sessions, audit and zone tuning on SQLite (default) and PostgreSQL (production)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from controller.tuning import TuningStore, tuned_farm
from smartfarm.config import load_farm_config
from smartfarm.stores.users import Role, UserStore
from tests.conftest import EXAMPLE_FARM

NOW = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return str(request.getfixturevalue("postgres_url"))


def test_users_sessions_and_audit_round_trip(db_url: str) -> None:
    users = UserStore(db_url)
    try:
        users.add("lan", "long-enough-pw", Role.FARMER, NOW, display_name="Chị Lan")
        assert users.authenticate("lan", "long-enough-pw") is not None
        assert users.authenticate("lan", "wrong-password") is None
        token, expires = users.open_session("lan", NOW, timedelta(hours=1))
        assert expires == NOW + timedelta(hours=1)
        user = users.user_for_token(token, NOW + timedelta(minutes=5))
        assert user is not None and user.display_name == "Chị Lan" and user.role is Role.FARMER
        users.update("lan", disabled=True)
        assert users.user_for_token(token, NOW) is None  # disabling ends the session
        assert users.authenticate("lan", "long-enough-pw") is None
        users.audit(NOW, "admin", "user.update", "user lan", {"role": "farmer"}, None)
        [entry] = users.audit_entries()
        assert entry.before == {"role": "farmer"} and entry.after is None and entry.at == NOW
        assert users.delete("lan") and users.count() == 0
    finally:
        users.close()


def test_zone_tuning_round_trip_and_the_tuned_farm(db_url: str) -> None:
    tuning = TuningStore(db_url)
    farm = load_farm_config(EXAMPLE_FARM)
    try:
        tuning.put(
            "z1", {"thresholds": {"start": 0.22, "stop": 0.27}, "windows": ["05:00-07:00"]}, "minh"
        )
        tuned = tuned_farm(farm, tuning.all())
        z1 = tuned.zone("z1")
        assert (z1.effective_thresholds.start, z1.effective_thresholds.stop) == (0.22, 0.27)
        assert [str(w) for w in z1.windows] == ["05:00-07:00"]
        assert tuned.zone("z2") == farm.zone("z2")
        tuning.put("z1", {}, "minh")  # back to the farm file
        assert tuning.all() == {}
    finally:
        tuning.close()
