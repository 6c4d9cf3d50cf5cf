"""Errors: the types every layer raises, and what routes declare they may answer.

Exception tree::

    TesseraError                  problem+json (RFC 9457) with a stable ``code``
    ├── NotFound                  404 not_found
    ├── Unauthorized              401, WWW-Authenticate: Bearer
    │   ├── NotAuthenticated      401 not_authenticated
    │   ├── InvalidToken          401 invalid_token
    │   └── TokenRevoked          401 token_revoked
    ├── Forbidden                 403 forbidden
    │   └── InsufficientScope     403 insufficient_scope, WWW-Authenticate: Bearer
    ├── Conflict                  409
    ├── ServiceUnavailable        503 (a dependency is down; fail closed)
    │   ├── DatabaseUnavailable   503 database_unavailable
    │   └── RevocationUnavailable 503 revocation_unavailable
    └── ...                       each domain's ``errors.py``
    OAuthError                    RFC 6749 §5.2 body, for /token and /revoke only

Rendered by ``tessera_core.web.errors``; routes built with its ``OAuthRoute`` (the OAuth
endpoints) answer every error in RFC 6749 form.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "ADMIN_ERRORS",
    "BEARER_ERRORS",
    "NO_STORE",
    "OAUTH_ERROR_REF",
    "PROBLEM_JSON",
    "Conflict",
    "DatabaseUnavailable",
    "Forbidden",
    "InsufficientScope",
    "InvalidToken",
    "NotAuthenticated",
    "NotFound",
    "OAuthError",
    "PayloadTooLarge",
    "RevocationUnavailable",
    "ServiceUnavailable",
    "TesseraError",
    "TokenRevoked",
    "Unauthorized",
    "problem_responses",
]

PROBLEM_JSON = "application/problem+json"
# What every answer carrying a token or a secret sends (RFC 6749 §5.1): nothing may cache it.
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class TesseraError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "Bad request"
    # On an OAuth endpoint: the RFC 6749 ``error`` this is answered with, with ``status``
    # and the members of ``extensions()``; ``None`` maps it by its kind (as_oauth_error).
    oauth_error: ClassVar[str | None] = None

    def extensions(self) -> dict[str, Any]:
        """Members this error adds to its body beyond RFC 9457's (and to its RFC 6749 form)."""
        return {}

    def __init__(self, detail: str | None = None, *, headers: dict[str, str] | None = None):
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {
            "type": f"https://tessera.dev/problems/{self.code.replace('_', '-')}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
            **self.extensions(),
        }


class NotFound(TesseraError):
    status = 404
    code = "not_found"
    title = "Not found"


class Unauthorized(TesseraError):
    status = 401
    code = "unauthorized"
    title = "Unauthorized"
    token_presented: ClassVar[bool] = True

    def __init__(self, detail: str | None = None, *, headers: dict[str, str] | None = None):
        super().__init__(detail, headers=headers)
        # RFC 6750 §3: error="invalid_token" only where a token was presented.
        challenge = (
            f'Bearer error="invalid_token", error_description="{self.code}"'
            if self.token_presented
            else "Bearer"
        )
        self.headers.setdefault("WWW-Authenticate", challenge)


class NotAuthenticated(Unauthorized):
    code = "not_authenticated"
    title = "Authentication required"
    token_presented = False


class InvalidToken(Unauthorized):
    code = "invalid_token"
    title = "Invalid token"


class TokenRevoked(Unauthorized):
    code = "token_revoked"
    title = "Token revoked"


class Forbidden(TesseraError):
    status = 403
    code = "forbidden"
    title = "Forbidden"


class InsufficientScope(Forbidden):
    """The token is valid but lacks the scope the endpoint requires (RFC 6750 §3.1)."""

    code = "insufficient_scope"
    title = "Insufficient scope"

    def __init__(self, scope: str) -> None:
        super().__init__(
            f"This endpoint needs a token with the scope {scope}.",
            headers={"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'},
        )
        self.scope = scope


class Conflict(TesseraError):
    status = 409
    code = "conflict"
    title = "Conflict"


class PayloadTooLarge(TesseraError):
    status = 413
    code = "payload_too_large"
    title = "Request body too large"


class ServiceUnavailable(TesseraError):
    status = 503
    code = "service_unavailable"
    title = "Service unavailable"

    def __init__(self, detail: str | None = None, *, headers: dict[str, str] | None = None):
        super().__init__(detail, headers=headers)
        self.headers.setdefault("Retry-After", "5")


class DatabaseUnavailable(ServiceUnavailable):
    code = "database_unavailable"
    title = "Database unavailable"


class RevocationUnavailable(ServiceUnavailable):
    code = "revocation_unavailable"
    title = "Token revocation store unavailable"


class OAuthError(Exception):
    """An RFC 6749 §5.2 error: ``{"error", "error_description"}``, never problem+json."""

    def __init__(
        self,
        error: str,
        description: str,
        *,
        status: int = 400,
        headers: dict[str, str] | None = None,
        extensions: dict[str, Any] | None = None,
    ):
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status
        self.extensions = extensions or {}
        self.headers = {**NO_STORE, **(headers or {})}


# What any route behind a Bearer token may answer besides its own errors.
BEARER_ERRORS: tuple[type[TesseraError], ...] = (
    NotAuthenticated,
    InvalidToken,
    TokenRevoked,
    InsufficientScope,
    RevocationUnavailable,
)
# What an administrator's route may answer besides its own errors: a non-admin is 403.
ADMIN_ERRORS: tuple[type[TesseraError], ...] = (*BEARER_ERRORS, Forbidden)


def problem_responses(*errors: type[TesseraError]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` for a route that may raise these errors.

    Example:
        >>> sorted(problem_responses(NotFound, TokenRevoked))
        [401, 404]
    """
    responses: dict[int | str, dict[str, Any]] = {}
    for error in errors:
        entry = responses.setdefault(
            error.status,
            {
                "description": "",
                "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
            },
        )
        codes = [c for c in entry["description"].split(", ") if c]
        entry["description"] = ", ".join([*codes, f"`{error.code}`"])
    return responses


OAUTH_ERROR_REF = {"$ref": "#/components/schemas/OAuthError"}
