"""Who may call what: one table of every /api/v1 route and the least role it needs.

The same table drives the authorization dependency and the role-matrix test; an app
route without a row refuses to start (see ``check_routes``).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.routing import APIRoute
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from api.errors import problem
from smartfarm.stores.users import Role, User, UserStore

SESSION_COOKIE = "smartfarm_session"
V, F, T, A = Role.VIEWER, Role.FARMER, Role.TECHNICIAN, Role.ADMIN
P = "/api/v1"

# (method, path) -> least role; None = anyone, logged in or not.
ACCESS: dict[tuple[str, str], Role | None] = {
    ("POST", f"{P}/auth/login"): None,
    ("POST", f"{P}/auth/logout"): V,
    ("GET", f"{P}/me"): V,
    ("PATCH", f"{P}/me"): V,
    ("GET", f"{P}/users"): A,
    ("POST", f"{P}/users"): A,
    ("PATCH", f"{P}/users/{{username}}"): A,
    ("DELETE", f"{P}/users/{{username}}"): A,
    ("GET", f"{P}/farm"): V,
    ("GET", f"{P}/zones"): V,
    ("GET", f"{P}/zones/{{zone_id}}"): V,
    ("GET", f"{P}/zones/{{zone_id}}/history"): V,
    ("POST", f"{P}/zones/{{zone_id}}/water"): F,
    ("POST", f"{P}/zones/{{zone_id}}/stop"): F,
    ("POST", f"{P}/zones/{{zone_id}}/pause"): F,
    ("POST", f"{P}/zones/{{zone_id}}/resume"): F,
    ("POST", f"{P}/water-everything"): F,
    ("POST", f"{P}/rain"): F,
    ("POST", f"{P}/zones/{{zone_id}}/dry-run"): T,
    ("GET", f"{P}/runs"): V,
    ("GET", f"{P}/decisions"): V,
    ("GET", f"{P}/alarms"): V,
    ("POST", f"{P}/alarms/{{alarm_id}}/ack"): F,
    ("GET", f"{P}/dead-letters"): T,
    ("GET", f"{P}/audit"): T,
    ("GET", f"{P}/unknown-devices"): T,
    ("GET", f"{P}/zones/{{zone_id}}/thresholds"): V,
    ("PUT", f"{P}/zones/{{zone_id}}/thresholds"): T,
    ("POST", f"{P}/zones/{{zone_id}}/thresholds/preview"): T,
    ("GET", f"{P}/zones/{{zone_id}}/program"): V,
    ("PUT", f"{P}/zones/{{zone_id}}/program"): T,
    ("GET", f"{P}/devices"): V,
    ("PUT", f"{P}/devices/{{device_id}}/calibration"): T,
    ("GET", f"{P}/events"): V,
    # The farm diary and traceability (api/diary.py).
    ("GET", f"{P}/diary"): V,
    ("POST", f"{P}/diary"): F,
    ("GET", f"{P}/diary.csv"): V,
    ("GET", f"{P}/readings.csv"): V,
    ("GET", f"{P}/trace/print"): F,
}

_bearer = HTTPBearer(auto_error=False, description="A token from POST /api/v1/auth/login")
_cookie = APIKeyCookie(
    name=SESSION_COOKIE, auto_error=False, description="Set by POST /api/v1/auth/login"
)


def route_keys(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every /api/v1 route the app serves, from its OpenAPI document.

    The document, not ``app.routes``: FastAPI keeps included routers nested there.
    """
    methods = {"get", "put", "post", "delete", "patch"}
    return {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if path.startswith(P)
        for method in operations
        if method in methods
    }


def check_routes(app: FastAPI) -> None:
    """Refuse an app with a route nobody decided the access of."""
    missing = sorted(route_keys(app) - ACCESS.keys())
    if missing:
        raise RuntimeError(f"routes without a row in api.access.ACCESS: {missing}")


class Authorizer:
    """The dependency on every /api/v1 route: who is asking, and may their role do this."""

    def __init__(self, users: UserStore) -> None:
        self.users = users

    async def __call__(
        self,
        request: Request,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        cookie: Annotated[str | None, Depends(_cookie)],
    ) -> None:
        route = request.scope.get("route")
        path = route.path if isinstance(route, APIRoute) else ""
        key = (request.method, path)
        if key in ACCESS and ACCESS[key] is None:
            return
        token = bearer.credentials if bearer is not None else cookie
        user = await self._user(token) if token else None
        if user is None:
            raise problem(
                401,
                "not_logged_in",
                "Please log in.",
                headers={"WWW-Authenticate": "Bearer"},
            )
        request.state.user = user
        request.state.token = token
        needed = ACCESS.get(key, A)  # a route without a row is for nobody but an admin
        if needed is not None and user.role < needed:
            raise problem(
                403, "forbidden", f"This needs the {needed.label} role; you are {user.role.label}."
            )

    async def _user(self, token: str) -> User | None:
        # Async with a cache: a known session costs no thread hop and no query.
        now = datetime.now(UTC)
        hit, user = self.users.cached_user(token, now)
        if hit:
            return user
        return await asyncio.to_thread(self.users.user_for_token, token, now)


async def current_user(request: Request) -> User:
    """The logged-in user (set by the Authorizer, which runs first)."""
    user: User = request.state.user
    return user


CurrentUser = Annotated[User, Depends(current_user)]
