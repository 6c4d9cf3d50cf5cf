"""The one rendering of errors: problem+json (RFC 9457) for ``TesseraError`` and every
framework failure, RFC 6749 §5.2 for ``OAuthError`` and on ``OAuthRoute`` routes."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import psycopg
import psycopg_pool
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from tessera_core.errors import (
    OAUTH_ERROR_REF,
    PROBLEM_JSON,
    DatabaseUnavailable,
    Forbidden,
    OAuthError,
    ServiceUnavailable,
    TesseraError,
    Unauthorized,
)

__all__ = [
    "DATABASE_UNREACHABLE",
    "OAUTH_RESPONSES",
    "OAuthRoute",
    "as_oauth_error",
    "database_unreachable",
    "error_response",
    "install_error_handlers",
    "internal_error",
]

log = structlog.get_logger("tessera.errors")


def problem(status: int, code: str, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {
        "type": f"https://tessera.dev/problems/{code.replace('_', '-')}",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def _field_path(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "form")]
    return ".".join(parts) or "body"


def _validation_message(error: dict[str, Any]) -> str:
    if error.get("type") == "extra_forbidden":
        return "unknown field"
    message = str(error.get("msg", "invalid value"))
    # Pydantic's ValueError messages start with "Value error, "; the client needs only the reason.
    return message.removeprefix("Value error, ")


def error_response(exc: TesseraError) -> JSONResponse:
    """The problem+json answer to ``exc``, for code that answers ahead of the handlers."""
    response = JSONResponse(exc.body(), status_code=exc.status, media_type=PROBLEM_JSON)
    response.headers.update(exc.headers)
    return response


async def _tessera_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TesseraError)
    return error_response(exc)


async def _oauth_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, OAuthError)
    return JSONResponse(
        {"error": exc.error, "error_description": exc.description, **exc.extensions},
        status_code=exc.status,
        headers=exc.headers,
    )


def _field_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    return [
        {"field": _field_path(tuple(e.get("loc", ()))), "message": _validation_message(e)}
        for e in exc.errors()
    ]


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _field_errors(exc)
    return problem(
        422, "validation_failed", "Validation failed", "The request is invalid.", errors=errors
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
        # FastAPI's answer to a body that is not JSON at all (bytes that are not UTF-8, say):
        # a validation failure like any other malformed body.
        return problem(
            422,
            "validation_failed",
            "Validation failed",
            "The request is invalid.",
            errors=[{"field": "body", "message": "not a valid JSON document"}],
        )
    codes = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
    code = codes.get(exc.status_code, "http_error")
    response = problem(exc.status_code, code, str(exc.detail), str(exc.detail))
    if exc.headers:
        response.headers.update(exc.headers)
    return response


# Connection-level failures only (refused, dropped, pool exhausted): the client may retry.
DATABASE_UNREACHABLE = (
    OperationalError,
    InterfaceError,
    PoolTimeoutError,
    psycopg.OperationalError,  # the read pool's plain connections (tessera_core.db.engine)
    psycopg_pool.PoolTimeout,
)


def database_unreachable(exc: Exception) -> JSONResponse:
    """The 503 for one of ``DATABASE_UNREACHABLE``; the details (host, user, SQL) stay in
    the log."""
    orig = getattr(exc, "orig", None)  # SQLAlchemy wraps the driver's error
    cause = orig if isinstance(orig, BaseException) else exc
    first_line = next(iter(str(cause).splitlines()), "")
    log.warning(
        "database_unavailable",
        error=type(exc).__name__,
        cause=type(cause).__name__,
        sqlstate=getattr(cause, "sqlstate", None),
        message=first_line[:300],
    )
    return error_response(DatabaseUnavailable("The database cannot be reached."))


async def _database_unreachable(request: Request, exc: Exception) -> JSONResponse:
    return database_unreachable(exc)


def internal_error(exc: Exception) -> JSONResponse:
    """The 500 for an exception nothing else handles; its traceback goes to the log (once),
    never to the client."""
    log.error("unhandled_error", exc_info=exc)
    return problem(500, "internal_error", "Internal server error", "An unexpected error occurred.")


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    return internal_error(exc)


def as_oauth_error(exc: TesseraError | RequestValidationError) -> OAuthError:
    """The RFC 6749 §5.2 form of an error raised on an OAuth endpoint.

    Example:
        >>> as_oauth_error(ServiceUnavailable("down")).error
        'temporarily_unavailable'
    """
    if isinstance(exc, RequestValidationError):
        described = "; ".join(f"{e['field']}: {e['message']}" for e in _field_errors(exc))
        return OAuthError("invalid_request", described)
    if exc.oauth_error is not None:
        return OAuthError(
            exc.oauth_error,
            exc.detail,
            status=exc.status,
            headers=exc.headers,
            extensions=exc.extensions(),
        )
    if isinstance(exc, ServiceUnavailable):
        return OAuthError("temporarily_unavailable", exc.detail, status=503, headers=exc.headers)
    if exc.status == 429:
        return OAuthError("too_many_attempts", exc.detail, status=429, headers=exc.headers)
    if isinstance(exc, Unauthorized | Forbidden):
        # §5.2: credentials or a refresh token that are invalid, expired or revoked (or an
        # account that may not log in yet: an unverified email where one is required).
        return OAuthError("invalid_grant", exc.detail)
    return OAuthError("invalid_request", exc.detail)


# Every error an OAuth route can answer (``as_oauth_error``), for its OpenAPI document.
OAUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "description": description,
        "content": {"application/json": {"schema": OAUTH_ERROR_REF}},
    }
    for status, description in (
        (
            400,
            "`invalid_request` (a malformed form too), `invalid_grant`, `unsupported_grant_type`",
        ),
        (429, "`too_many_attempts`, with `Retry-After`"),
        (503, "`temporarily_unavailable`"),
    )
}


class OAuthRoute(APIRoute):
    """A route that answers its errors in RFC 6749 form (``{"error", "error_description"}``)
    instead of problem+json: ``APIRouter(route_class=OAuthRoute)``."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        kwargs["responses"] = {**OAUTH_RESPONSES, **(kwargs.get("responses") or {})}
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def oauth_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except (TesseraError, RequestValidationError) as exc:
                raise as_oauth_error(exc) from exc

        return oauth_handler


def install_error_handlers(app: FastAPI) -> None:
    """Render every error of ``app`` as problem+json (or RFC 6749 for ``OAuthError``)."""
    app.add_exception_handler(TesseraError, _tessera_error)
    app.add_exception_handler(OAuthError, _oauth_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    for connection_error in DATABASE_UNREACHABLE:
        app.add_exception_handler(connection_error, _database_unreachable)
    app.add_exception_handler(Exception, _unexpected_error)
