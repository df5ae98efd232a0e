"""Our error bodies: ``{"detail": {"code", "message", "field"?}}`` with a stable code."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException


def problem(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> HTTPException:
    """An HTTPException whose code a page can translate and whose message a person can read."""
    detail: dict[str, str] = {"code": code, "message": message}
    if field is not None:
        detail["field"] = field
    return HTTPException(status, detail, headers=headers)


def invalid(field: str, message: str) -> HTTPException:
    """A 422 shaped like FastAPI's own validation errors, naming the body field."""
    return HTTPException(422, [{"loc": ["body", field], "msg": message, "type": "value_error"}])


Responses = dict[int | str, dict[str, Any]]
_PROBLEM = {"$ref": "#/components/schemas/ProblemOut"}


def described(status: int, text: str) -> Responses:
    """An OpenAPI response entry with our error body."""
    return {status: {"description": text, "content": {"application/json": {"schema": _PROBLEM}}}}


ERROR_RESPONSES: Responses = {
    **described(401, "Not logged in (code `not_logged_in`)"),
    **described(403, "The user's role may not do this (code `forbidden`)"),
}
NOT_FOUND = described(404, "No such thing (code `no_such_zone`, ...)")
CONFLICT = described(409, "Refused for safety; `code` says why (`daily_limit`, ...)")


_CODES = {
    400: "bad_request",
    401: "not_logged_in",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    429: "too_many_attempts",
}


async def http_error(request: Request, exc: Exception) -> Response:
    """Errors raised with a plain string (by FastAPI or Starlette) get our shape too."""
    assert isinstance(exc, StarletteHTTPException)
    detail: Any = exc.detail
    if isinstance(detail, str):
        detail = {"code": _CODES.get(exc.status_code, "error"), "message": detail}
    return JSONResponse({"detail": detail}, exc.status_code, headers=exc.headers)
