"""Login, sessions, rate limits, users and the audit log, through the real app."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from api.ratelimit import FailureWindow, LoginLimiter
from api.users import ensure_first_admin
from smartfarm.settings import ApiSettings
from smartfarm.stores.users import Role, UserError, UserStore
from tests.api.conftest import ApiUnderTest, password_of


def test_login_gives_a_token_and_an_httponly_strict_cookie(api: ApiUnderTest) -> None:
    r = api.client.post(
        "/api/v1/auth/login", json={"username": "farmer", "password": password_of("farmer")}
    )
    assert r.status_code == 200
    body = r.json()
    assert body["user"] == {
        "username": "farmer",
        "display_name": "farmer",
        "role": "farmer",
        "language": "en",
    }
    cookie = r.headers["set-cookie"]
    assert f"smartfarm_session={body['token']}" in cookie
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    # The cookie alone is enough (the phone page never holds the token).
    assert api.client.get("/api/v1/me").json()["username"] == "farmer"


def test_without_a_token_401_and_with_a_bad_one_too(api: ApiUnderTest) -> None:
    r = api.client.get("/api/v1/zones")
    assert r.status_code == 401
    assert r.json()["detail"]["code"] == "not_logged_in"
    r = api.client.get("/api/v1/zones", headers={"Authorization": "Bearer nonsense"})
    assert r.status_code == 401
    assert api.client.get("/healthz").status_code in (200, 503)


def test_wrong_password_401_with_a_code(api: ApiUnderTest) -> None:
    r = api.client.post("/api/v1/auth/login", json={"username": "farmer", "password": "nope"})
    assert r.status_code == 401
    assert r.json()["detail"]["code"] == "bad_credentials"
    r = api.client.post("/api/v1/auth/login", json={"username": "ghost", "password": "nope"})
    assert r.json()["detail"]["code"] == "bad_credentials"


def test_logout_revokes_the_token(api: ApiUnderTest) -> None:
    headers = api.headers("viewer")
    assert api.client.get("/api/v1/me", headers=headers).status_code == 200
    r = api.client.post("/api/v1/auth/logout", headers=headers)
    assert r.status_code == 204
    assert 'smartfarm_session=""' in r.headers["set-cookie"]
    assert api.client.get("/api/v1/me", headers=headers).status_code == 401


def test_a_new_password_or_removal_ends_the_users_sessions(api: ApiUnderTest) -> None:
    admin, farmer = api.headers("admin"), api.headers("farmer")
    r = api.client.patch(
        "/api/v1/users/farmer", json={"password": "another-long-one"}, headers=admin
    )
    assert r.status_code == 200
    assert api.client.get("/api/v1/me", headers=farmer).status_code == 401
    ok = api.client.post(
        "/api/v1/auth/login", json={"username": "farmer", "password": "another-long-one"}
    )
    assert ok.status_code == 200
    assert api.client.delete("/api/v1/users/farmer", headers=admin).status_code == 204
    bearer = {"Authorization": f"Bearer {ok.json()['token']}"}
    api.client.cookies.clear()
    assert api.client.get("/api/v1/me", headers=bearer).status_code == 401


def test_expired_sessions_are_refused(api: ApiUnderTest) -> None:
    from datetime import UTC, datetime, timedelta

    past = datetime.now(UTC) - timedelta(days=2)
    token, _ = api.users.open_session("viewer", past, timedelta(days=1))
    r = api.client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401


def test_tokens_are_stored_hashed_and_passwords_with_argon2(api: ApiUnderTest) -> None:
    token = api.token("viewer")
    db = str(api.users._engine.url.database)
    content = Path(db).read_bytes() + Path(f"{db}-wal").read_bytes()
    assert token.encode() not in content
    assert password_of("viewer").encode() not in content
    assert b"$argon2id$" in content


def test_too_many_failed_logins_429_with_retry_after(api: ApiUnderTest) -> None:
    for _ in range(5):
        r = api.client.post("/api/v1/auth/login", json={"username": "farmer", "password": "x"})
        assert r.status_code == 401
    r = api.client.post(
        "/api/v1/auth/login", json={"username": "farmer", "password": password_of("farmer")}
    )
    assert r.status_code == 429
    assert r.json()["detail"]["code"] == "too_many_attempts"
    assert 0 < int(r.headers["Retry-After"]) <= 300
    # Another user from the same address is not locked out by one user's failures.
    other = api.client.post(
        "/api/v1/auth/login", json={"username": "viewer", "password": password_of("viewer")}
    )
    assert other.status_code == 200


def test_limiter_per_user_and_per_client_pure() -> None:
    limiter = LoginLimiter(FailureWindow(3, 60.0), FailureWindow(5, 60.0))
    for i in range(3):
        assert limiter.retry_after("Lan", "10.0.0.1", float(i)) == 0
        limiter.failed("lan", "10.0.0.1", float(i))
    assert limiter.retry_after("lan", "10.0.0.2", 3.0) == 57
    assert limiter.retry_after("lan", "10.0.0.2", 60.5) == 0  # the first failure aged out
    for i in range(2):
        limiter.failed(f"user{i}", "10.0.0.1", 10.0)
    assert limiter.retry_after("someone", "10.0.0.1", 11.0) == 49  # the address is limited
    limiter.succeeded("lan")
    assert limiter.retry_after("lan", "10.0.0.9", 11.0) == 0


def test_admin_manages_users_and_the_audit_log_has_before_and_after(api: ApiUnderTest) -> None:
    admin = api.headers("admin")
    r = api.client.post(
        "/api/v1/users",
        json={"username": "minh", "password": "long-enough-pw", "role": "technician"},
        headers=admin,
    )
    assert r.status_code == 201 and r.json()["role"] == "technician"
    assert r.json()["language"] == "vi"
    again = api.client.post(
        "/api/v1/users",
        json={"username": "minh", "password": "long-enough-pw", "role": "farmer"},
        headers=admin,
    )
    assert again.status_code == 409 and again.json()["detail"]["code"] == "user_exists"
    short = api.client.post(
        "/api/v1/users",
        json={"username": "x", "password": "short", "role": "farmer"},
        headers=admin,
    )
    assert short.status_code == 422 and short.json()["detail"][0]["loc"] == ["body", "password"]
    api.client.patch("/api/v1/users/minh", json={"role": "farmer"}, headers=admin)
    names = [u["username"] for u in api.client.get("/api/v1/users", headers=admin).json()]
    assert "minh" in names
    audit = api.client.get("/api/v1/audit", headers=api.headers("technician")).json()
    change = next(e for e in audit if e["action"] == "user.update")
    assert change["username"] == "admin" and change["target"] == "user minh"
    assert change["before"]["role"] == "technician" and change["after"]["role"] == "farmer"
    assert all("password" not in str(e["after"]) or "changed" in str(e["after"]) for e in audit)


def test_the_last_admin_cannot_be_removed_or_demoted(api: ApiUnderTest) -> None:
    admin = api.headers("admin")
    r = api.client.delete("/api/v1/users/admin", headers=admin)
    assert r.status_code == 409 and r.json()["detail"]["code"] == "last_admin"
    r = api.client.patch("/api/v1/users/admin", json={"role": "viewer"}, headers=admin)
    assert r.status_code == 409


def test_me_language_change_is_kept(api: ApiUnderTest) -> None:
    headers = api.headers("farmer")
    r = api.client.patch("/api/v1/me", json={"language": "vi"}, headers=headers)
    assert r.status_code == 200 and r.json()["language"] == "vi"
    bad = api.client.patch("/api/v1/me", json={"language": "fr"}, headers=headers)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "language"]


def test_first_admin_from_env_or_random_file_never_a_default(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a' / 'state.db'}"
    users = UserStore(url)
    settings = ApiSettings(var_dir=tmp_path / "a", admin_password="from-the-environment")
    assert ensure_first_admin(users, settings, generate=True) is None
    assert users.authenticate("admin", "from-the-environment") is not None
    users.close()

    users = UserStore(f"sqlite:///{tmp_path / 'b' / 'state.db'}")
    settings = ApiSettings(var_dir=tmp_path / "b")
    assert ensure_first_admin(users, settings, generate=False) is None
    assert users.count() == 0  # `smartfarm api` alone creates nobody
    password = ensure_first_admin(users, settings, generate=True)
    assert password is not None and len(password) >= 12
    path = tmp_path / "b" / "first-admin-password"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert path.read_text().split() == ["admin", password]
    assert users.authenticate("admin", password) is not None
    assert ensure_first_admin(users, settings, generate=True) is None  # only once
    users.close()


def test_user_store_names_bad_input(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    users = UserStore(f"sqlite:///{tmp_path / 'state.db'}")
    with pytest.raises(UserError, match="password must have at least 10"):
        users.add("lan", "short", Role.FARMER, datetime.now(UTC))
    with pytest.raises(UserError, match="language must be one of"):
        users.add("lan", "long-enough-pw", Role.FARMER, datetime.now(UTC), language="fr")
    with pytest.raises(ValueError, match="unknown role 'boss'"):
        Role.parse("boss")
    users.close()
