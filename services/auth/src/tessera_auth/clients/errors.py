from __future__ import annotations

from tessera_core.errors import Conflict, NotFound, TesseraError

__all__ = [
    "InvalidJwks",
    "InvalidServiceScope",
    "SecretLimitReached",
    "ServiceAccountNotFound",
    "ServiceSecretNotFound",
]


class InvalidServiceScope(TesseraError):
    """A service account asked for a scope outside what service accounts may hold
    (``users:read``, ``users:write``) or wider than the creating administrator's token."""

    status = 400
    code = "invalid_scope"
    title = "Invalid scope"


class InvalidJwks(TesseraError):
    status = 422
    code = "invalid_jwks"
    title = "Invalid JWK set"


class SecretLimitReached(Conflict):
    code = "secret_limit_reached"
    title = "Secret limit reached"


class ServiceAccountNotFound(NotFound):
    code = "service_account_not_found"
    title = "Service account not found"


class ServiceSecretNotFound(NotFound):
    code = "secret_not_found"
    title = "Secret not found"
