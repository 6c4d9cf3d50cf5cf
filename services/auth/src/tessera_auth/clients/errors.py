from __future__ import annotations

from tessera_core.errors import Conflict, NotFound, TesseraError

__all__ = [
    "InvalidJwks",
    "InvalidJwksUri",
    "InvalidServiceScope",
    "JwksUriUnreachable",
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


class InvalidJwksUri(TesseraError):
    """A ``jwks_uri`` that may not be registered: not https (http only to a loopback host,
    in dev and test), credentials or a fragment in it."""

    status = 422
    code = "invalid_jwks_uri"
    title = "Invalid JWKS URL"


class JwksUriUnreachable(TesseraError):
    """Registering a ``jwks_uri``: fetching it gave no JWK set (no connection, a refused
    address, a status other than 200 (redirects are not followed), too large, not JSON)."""

    status = 422
    code = "jwks_uri_unreachable"
    title = "JWKS URL unreachable"


class SecretLimitReached(Conflict):
    code = "secret_limit_reached"
    title = "Secret limit reached"


class ServiceAccountNotFound(NotFound):
    code = "service_account_not_found"
    title = "Service account not found"


class ServiceSecretNotFound(NotFound):
    code = "secret_not_found"
    title = "Secret not found"
