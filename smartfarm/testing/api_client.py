"""Log in to a running API: for tests and benchmarks that call it over HTTP."""

from __future__ import annotations

import httpx

TEST_ADMIN_PASSWORD = "stack-admin-password"


def login(base_url: str, username: str, password: str, timeout: float = 10.0) -> httpx.Client:
    """An httpx client with the session's bearer token (login is checked, not assumed)."""
    response = httpx.post(
        f"{base_url}/api/v1/auth/login",
        json={"username": username, "password": password},
        timeout=timeout,
    )
    response.raise_for_status()
    token = response.json()["token"]
    return httpx.Client(
        base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout
    )


def ensure_user(admin: httpx.Client, username: str, password: str, role: str) -> None:
    """Create the user through the API unless it exists."""
    names = {u["username"] for u in admin.get("/api/v1/users").raise_for_status().json()}
    if username not in names:
        admin.post(
            "/api/v1/users",
            json={"username": username, "password": password, "role": role, "language": "en"},
        ).raise_for_status()
