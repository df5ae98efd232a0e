"""Log in and out, who am I, and (admin) the users."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Request, Response

from api import schemas
from api.access import SESSION_COOKIE, CurrentUser
from api.context import ApiContext
from api.errors import invalid, problem
from smartfarm.stores.users import Role, User, UserError


def user_out(u: User) -> schemas.UserOut:
    return schemas.UserOut(
        username=u.username,
        display_name=u.display_name,
        role=u.role.label,
        language=u.language,
    )


def _public(u: User | None) -> dict[str, object] | None:
    if u is None:
        return None
    return {"role": u.role.label, "language": u.language, "display_name": u.display_name}


def build(ctx: ApiContext) -> APIRouter:
    router = APIRouter(prefix="/api/v1")
    ttl = timedelta(hours=ctx.settings.session_hours)

    @router.post(
        "/auth/login",
        response_model=schemas.LoginOut,
        responses={
            401: {"model": schemas.ProblemOut, "description": "code `bad_credentials`"},
            429: {"model": schemas.ProblemOut, "description": "code `too_many_attempts`"},
        },
        tags=["auth"],
    )
    def login(body: schemas.Login, request: Request, response: Response) -> schemas.LoginOut:
        """A session token, also set as an HttpOnly cookie for the phone page."""
        client = request.client.host if request.client else "unknown"
        wait = ctx.limiter.retry_after(body.username, client, time.monotonic())
        if wait:
            raise problem(
                429,
                "too_many_attempts",
                f"Too many failed logins; try again in {wait} seconds.",
                headers={"Retry-After": str(wait)},
            )
        user = ctx.users.authenticate(body.username, body.password)
        if user is None:
            ctx.limiter.failed(body.username, client, time.monotonic())
            raise problem(401, "bad_credentials", "Wrong username or password.")
        ctx.limiter.succeeded(body.username)
        token, expires = ctx.users.open_session(user.username, datetime.now(UTC), ttl)
        response.set_cookie(
            SESSION_COOKIE,
            token,
            max_age=int(ttl.total_seconds()),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
        ctx.audit(user, "auth.login", f"user {user.username}", None, {"client": client})
        return schemas.LoginOut(token=token, expires_at=expires, user=user_out(user))

    @router.post("/auth/logout", status_code=204, tags=["auth"])
    def logout(request: Request, user: CurrentUser) -> Response:
        """Revoke this session's token and clear the cookie."""
        ctx.users.revoke(request.state.token)
        ctx.audit(user, "auth.logout", f"user {user.username}", None, None)
        response = Response(status_code=204)
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
        return response

    @router.get("/me", response_model=schemas.UserOut, tags=["auth"])
    def me(user: CurrentUser) -> schemas.UserOut:
        return user_out(user)

    @router.patch("/me", response_model=schemas.UserOut, tags=["auth"])
    def patch_me(body: schemas.MePatch, user: CurrentUser) -> schemas.UserOut:
        """Change one's own language or display name."""
        after = ctx.users.update(
            user.username, language=body.language, display_name=body.display_name
        )
        assert after is not None
        ctx.audit(user, "me.update", f"user {user.username}", _public(user), _public(after))
        return user_out(after)

    @router.get("/users", response_model=list[schemas.UserOut], tags=["users"])
    def list_users() -> list[schemas.UserOut]:
        return [user_out(u) for u in ctx.users.all()]

    @router.post(
        "/users",
        status_code=201,
        response_model=schemas.UserOut,
        responses={409: {"model": schemas.ProblemOut, "description": "code `user_exists`"}},
        tags=["users"],
    )
    def add_user(body: schemas.UserIn, user: CurrentUser) -> schemas.UserOut:
        if ctx.users.get(body.username) is not None:
            raise problem(409, "user_exists", f"User {body.username!r} already exists.", "username")
        try:
            new = ctx.users.add(
                body.username,
                body.password,
                Role.parse(body.role),
                datetime.now(UTC),
                body.language,
                body.display_name,
            )
        except UserError as err:
            raise invalid(err.field, str(err)) from err
        ctx.audit(user, "user.add", f"user {new.username}", None, _public(new))
        return user_out(new)

    @router.patch(
        "/users/{username}",
        response_model=schemas.UserOut,
        responses={404: {"model": schemas.ProblemOut}, 409: {"model": schemas.ProblemOut}},
        tags=["users"],
    )
    def patch_user(username: str, body: schemas.UserPatch, user: CurrentUser) -> schemas.UserOut:
        """Change a user; a new password or disabling ends their sessions."""
        before = ctx.users.get(username)
        if before is None:
            raise problem(404, "no_such_user", f"User {username!r} does not exist.")
        role = Role.parse(body.role) if body.role else None
        if _removes_last_admin(ctx, before, role, body.disabled):
            raise problem(409, "last_admin", "This is the last admin; add another admin first.")
        after = ctx.users.update(
            username,
            role=role,
            password=body.password,
            language=body.language,
            display_name=body.display_name,
            disabled=body.disabled,
        )
        assert after is not None
        changes = _public(after) or {}
        if body.password is not None:
            changes["password"] = "changed"
        ctx.audit(user, "user.update", f"user {username}", _public(before), changes)
        return user_out(after)

    @router.delete(
        "/users/{username}",
        status_code=204,
        responses={404: {"model": schemas.ProblemOut}, 409: {"model": schemas.ProblemOut}},
        tags=["users"],
    )
    def delete_user(username: str, user: CurrentUser) -> Response:
        """Remove a user and end their sessions."""
        before = ctx.users.get(username)
        if before is None:
            raise problem(404, "no_such_user", f"User {username!r} does not exist.")
        if _removes_last_admin(ctx, before, Role.VIEWER, True):
            raise problem(409, "last_admin", "This is the last admin; add another admin first.")
        ctx.users.delete(username)
        ctx.audit(user, "user.delete", f"user {username}", _public(before), None)
        return Response(status_code=204)

    return router


def _removes_last_admin(
    ctx: ApiContext, user: User, role: Role | None, disabled: bool | None
) -> bool:
    """Would this change leave the farm with no enabled admin (nobody could fix it then)."""
    if user.role is not Role.ADMIN or user.disabled:
        return False
    if (role is None or role is Role.ADMIN) and not disabled:
        return False
    admins = [u for u in ctx.users.all() if u.role is Role.ADMIN and not u.disabled]
    return len(admins) <= 1
