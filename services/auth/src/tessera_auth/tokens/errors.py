from __future__ import annotations

from tessera_core.errors import OAuthError


def invalid_grant(description: str) -> OAuthError:
    return OAuthError("invalid_grant", description)


def unsupported_grant_type(grant_type: str) -> OAuthError:
    return OAuthError(
        "unsupported_grant_type", f"grant_type {grant_type!r} is not supported by this server"
    )
