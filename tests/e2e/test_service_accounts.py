"""A service account as an OAuth 2.0 client would use it: Authlib's client fetches a token
with the client credentials grant through the gateway, authenticated by its secret
(``client_secret_basic``) or by a key (``private_key_jwt``, registered as a set or by the
URL that serves it), and the token opens ``/verify`` and a users row; a wrong secret is
refused as RFC 6749 says."""

from __future__ import annotations

import time
import warnings

import httpx
import pytest
from authlib.deprecate import AuthlibDeprecationWarning

with warnings.catch_warnings():
    # Authlib 1.9 prefers the httpx2 package and warns once, at import, when it falls back
    # to httpx, which is what the workspace has.
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import OAuth2Client
    from authlib.integrations.httpx_client import OAuthError as ClientOAuthError
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from joserfc.jwk import ECKey

from tests.e2e.accounts import log_in, register
from tests.e2e.stack import Stack, run_sql
from tests.fixtures.apps import bearer
from tests.fixtures.jwks_server import JwksServer

pytestmark = pytest.mark.e2e

TOKEN = "/api/v1/auth/token"
VERIFY = "/api/v1/auth/verify"


def new_service_account(stack: Stack, scope: str) -> dict:
    with httpx.Client(base_url=stack.gateway.url, timeout=30) as client:
        username = register(client, prefix="sa-admin")
        run_sql(stack, 'UPDATE "user" SET is_admin = true WHERE username = :u', u=username)
        admin = log_in(client, username)
        created = client.post(
            "/api/v1/auth/admin/service-accounts",
            json={"name": "e2e", "scope": scope},
            headers=bearer(admin),
        )
    assert created.status_code == 201, created.text
    account: dict = created.json()
    return account


class TestClientSecretBasic:
    def test_authlib_fetches_a_token_through_the_gateway(self, stack: Stack):
        account = new_service_account(stack, "users:read users:write")
        with OAuth2Client(
            account["client_id"],
            account["secret"]["secret"],
            token_endpoint_auth_method="client_secret_basic",
            scope="users:read",
            timeout=30,
        ) as client:
            token = client.fetch_token(stack.gateway.url + TOKEN, grant_type="client_credentials")
            assert token["scope"] == "users:read"
            assert "refresh_token" not in token
            verified = client.get(stack.gateway.url + VERIFY)
            listing = client.get(stack.gateway.url + "/api/v1/users")
        assert verified.status_code == 200, verified.text
        assert verified.headers["x-auth-user-id"] == account["id"]
        assert verified.headers["x-auth-scope"] == "users:read"
        assert listing.status_code == 200, listing.text

    def test_a_wrong_secret_is_invalid_client(self, stack: Stack):
        account = new_service_account(stack, "users:read")
        with (
            OAuth2Client(
                account["client_id"],
                "tsr_sas_" + "0" * 36,
                token_endpoint_auth_method="client_secret_basic",
                timeout=30,
            ) as client,
            pytest.raises(ClientOAuthError) as refused,
        ):
            client.fetch_token(stack.gateway.url + TOKEN, grant_type="client_credentials")
        assert refused.value.error == "invalid_client"


class TestPrivateKeyJwt:
    def test_authlib_signs_an_assertion_and_gets_a_token(self, stack: Stack):
        account = new_service_account(stack, "users:read")
        key = ECKey.generate_key("P-256", parameters={"kid": "e2e"}, private=True)
        with httpx.Client(base_url=stack.gateway.url, timeout=30) as client:
            username = register(client, prefix="sa-keys")
            run_sql(stack, 'UPDATE "user" SET is_admin = true WHERE username = :u', u=username)
            registered = client.put(
                f"/api/v1/auth/admin/service-accounts/{account['id']}/keys",
                json={"jwks": {"keys": [key.as_dict(private=False)]}},
                headers=bearer(log_in(client, username)),
            )
        assert registered.status_code == 200, registered.text
        token_url = stack.gateway.url + TOKEN
        # Authlib's assertion lives an hour by default; Tessera takes at most five minutes.
        auth = PrivateKeyJWT(
            token_url, claims={"exp": int(time.time()) + 120}, headers={"kid": "e2e"}, alg="ES256"
        )
        with OAuth2Client(
            account["client_id"], key, token_endpoint_auth_method=auth, timeout=30
        ) as client:
            token = client.fetch_token(token_url, grant_type="client_credentials")
            verified = client.get(stack.gateway.url + VERIFY)
        assert token["scope"] == "users:read"
        assert "refresh_token" not in token
        assert verified.status_code == 200, verified.text
        assert verified.headers["x-auth-user-id"] == account["id"]

    def test_keys_registered_by_url_sign_authlibs_assertion(
        self, stack: Stack, jwks_server: JwksServer
    ):
        account = new_service_account(stack, "users:read")
        key = ECKey.generate_key("P-256", parameters={"kid": "by-url"}, private=True)
        jwks_server.serve(key.as_dict(private=False))
        with httpx.Client(base_url=stack.gateway.url, timeout=30) as client:
            username = register(client, prefix="sa-url")
            run_sql(stack, 'UPDATE "user" SET is_admin = true WHERE username = :u', u=username)
            registered = client.put(
                f"/api/v1/auth/admin/service-accounts/{account['id']}/keys",
                json={"jwks_uri": jwks_server.url()},
                headers=bearer(log_in(client, username)),
            )
        assert registered.status_code == 200, registered.text
        assert registered.json()["jwks_uri"] == jwks_server.url()
        token_url = stack.gateway.url + TOKEN
        auth = PrivateKeyJWT(
            token_url,
            claims={"exp": int(time.time()) + 120},
            headers={"kid": "by-url"},
            alg="ES256",
        )
        with OAuth2Client(
            account["client_id"], key, token_endpoint_auth_method=auth, timeout=30
        ) as client:
            token = client.fetch_token(token_url, grant_type="client_credentials")
            verified = client.get(stack.gateway.url + VERIFY)
        assert token["scope"] == "users:read"
        assert verified.status_code == 200, verified.text
        assert verified.headers["x-auth-user-id"] == account["id"]
        # The registration's fetch, and at most one by whichever auth worker took the grant.
        assert 1 <= jwks_server.hits["/jwks"] <= 2
