"""RFC 8414 metadata, built once at startup and checked with Authlib's validator."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc8414 import AuthorizationServerMetadata

from tessera_core.settings import Settings


def authorization_server_metadata(settings: Settings) -> dict[str, Any]:
    base = settings.base_url
    document = AuthorizationServerMetadata(
        {
            "issuer": settings.issuer,
            "token_endpoint": f"{base}/api/v1/auth/token",
            "jwks_uri": f"{base}/.well-known/jwks.json",
            "revocation_endpoint": f"{base}/api/v1/auth/revoke",
            "grant_types_supported": ["password", "refresh_token"],
            # No authorization endpoint: no redirect-based response types are offered.
            "response_types_supported": [],
            "token_endpoint_auth_methods_supported": ["none"],
            "revocation_endpoint_auth_methods_supported": ["none"],
            "service_documentation": f"{base}/api/v1/auth/docs",
        }
    )
    document.validate_issuer()
    document.validate_token_endpoint()
    document.validate_jwks_uri()
    document.validate_grant_types_supported()
    document.validate_revocation_endpoint()
    document.validate_token_endpoint_auth_methods_supported()
    return dict(document)
