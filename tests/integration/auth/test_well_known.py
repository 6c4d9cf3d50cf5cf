"""GET /.well-known/jwks.json and /.well-known/oauth-authorization-server; the docs."""

from __future__ import annotations

import httpx

from tests.fixtures.apps import ISSUER


class TestWellKnown:
    async def test_jwks_publishes_public_keys_only(self, auth_client: httpx.AsyncClient):
        response = await auth_client.get("/.well-known/jwks.json")
        assert response.status_code == 200
        (key,) = response.json()["keys"]
        assert (key["kid"], key["alg"], key["use"], key["kty"]) == (
            "test-rs256",
            "RS256",
            "sig",
            "RSA",
        )
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)

    async def test_authorization_server_metadata(self, auth_client: httpx.AsyncClient):
        metadata = (await auth_client.get("/.well-known/oauth-authorization-server")).json()
        assert metadata["issuer"] == ISSUER
        assert metadata["token_endpoint"] == f"{ISSUER}/api/v1/auth/token"
        assert metadata["jwks_uri"] == f"{ISSUER}/.well-known/jwks.json"
        assert metadata["revocation_endpoint"] == f"{ISSUER}/api/v1/auth/revoke"
        assert metadata["grant_types_supported"] == [
            "password",
            "refresh_token",
            "urn:ietf:params:oauth:grant-type:token-exchange",
            "client_credentials",
        ]
        assert metadata["token_endpoint_auth_methods_supported"] == [
            "none",
            "client_secret_basic",
            "private_key_jwt",
        ]
        assert metadata["token_endpoint_auth_signing_alg_values_supported"] == [
            "RS256",
            "PS256",
            "ES256",
            "EdDSA",
        ]

    async def test_openapi_docs_under_the_service_prefix(self, auth_client: httpx.AsyncClient):
        schema = (await auth_client.get("/api/v1/auth/openapi.json")).json()
        assert "/api/v1/auth/register" in schema["paths"]
        assert "409" in schema["paths"]["/api/v1/auth/register"]["post"]["responses"]
        assert (await auth_client.get("/api/v1/auth/docs")).status_code == 200
