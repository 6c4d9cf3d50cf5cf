"""RFC 8414 metadata, built once at startup and checked with Authlib's validator."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from authlib.oauth2.rfc8414 import AuthorizationServerMetadata

from tessera_core.settings import Settings, SettingsError
from tessera_core.tokens.scopes import SCOPES

__all__ = ["ASSERTION_ALGORITHMS", "authorization_server_metadata"]

# What a private_key_jwt client assertion may be signed with (clients/assertion.py checks
# it): asymmetric only. "none" proves nothing, and an HMAC key would be a shared secret
# stored here in the clear.
ASSERTION_ALGORITHMS = ("RS256", "PS256", "ES256", "EdDSA")

LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}


def authorization_server_metadata(settings: Settings) -> dict[str, Any]:
    base = settings.base_url
    document = AuthorizationServerMetadata(
        {
            "issuer": settings.issuer,
            "token_endpoint": f"{base}/api/v1/auth/token",
            "jwks_uri": f"{base}/.well-known/jwks.json",
            "revocation_endpoint": f"{base}/api/v1/auth/revoke",
            "grant_types_supported": [
                "password",
                "refresh_token",
                "urn:ietf:params:oauth:grant-type:token-exchange",
                "client_credentials",
            ],
            "scopes_supported": list(SCOPES),
            # No authorization endpoint: no redirect-based response types are offered.
            "response_types_supported": [],
            # "none" for the public grants (password, refresh, exchange); a service account
            # authenticates its client_credentials grant (docs/service-accounts.md).
            "token_endpoint_auth_methods_supported": [
                "none",
                "client_secret_basic",
                "private_key_jwt",
            ],
            "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
            "revocation_endpoint_auth_methods_supported": ["none"],
            "service_documentation": f"{base}/api/v1/auth/docs",
        }
    )
    try:
        if not _is_local(settings.issuer) or not _is_local(base):
            # RFC 8414 §2: https everywhere; plain http only on loopback and in tests.
            document.validate_issuer()
            document.validate_token_endpoint()
            document.validate_jwks_uri()
            document.validate_revocation_endpoint()
        document.validate_grant_types_supported()
        document.validate_scopes_supported()
        document.validate_token_endpoint_auth_methods_supported()
    except ValueError as exc:
        raise SettingsError(f"TESSERA_ISSUER / TESSERA_PUBLIC_URL: {exc}") from exc
    return dict(document)


def _is_local(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in LOOPBACK_HOSTS or host.endswith((".localhost", ".test"))
