"""Both services in-process: the users service verifies the auth service's tokens with a
JWKS fetched over HTTP (``httpx.ASGITransport`` into the auth app), and sees every
revocation on the very next request."""

from __future__ import annotations

import asyncio
import time
import uuid
import warnings
from pathlib import Path

import httpx
from fastapi import FastAPI
from joserfc import jwt
from joserfc.jwk import RSAKey

from tessera_core.tokens.keygen import write_private_key
from tessera_core.tokens.verify import unverified_header
from tests.fixtures.apps import (
    ISSUER,
    PASSWORD,
    bearer,
    lifespan_state,
    running,
    with_lifespan_state,
)
from tests.fixtures.users import SwitchableTransport

ME = "/api/v1/users/me"


def forge(kid: str, sub: str, key: RSAKey | None = None) -> str:
    """A well-formed access token signed by a key the auth service never published."""
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": "tessera",
        "sub": sub,
        "sid": str(uuid.uuid4()),
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + 300,
        "client_id": "tessera",
        "preferred_username": "alice",
        "roles": ["admin"],
    }
    key = key or RSAKey.generate_key(2048)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return jwt.encode({"alg": "RS256", "kid": kid, "typ": "at+jwt"}, claims, key)


class TestTokensAcrossServices:
    async def test_auth_tokens_are_accepted_through_the_http_jwks(
        self, users_client: httpx.AsyncClient, users_app: FastAPI, auth_headers, jwks_transport
    ):
        response = await users_client.get(ME, headers=auth_headers)
        assert response.status_code == 200
        assert response.json()["username"] == "alice"
        assert jwks_transport.requests >= 1
        assert lifespan_state(users_app)["core"].jwks.kids == ["test-rs256"]

    async def test_logout_is_seen_on_the_next_request(
        self, users_client: httpx.AsyncClient, auth_client: httpx.AsyncClient, user_tokens
    ):
        assert (await users_client.get(ME, headers=bearer(user_tokens))).status_code == 200
        response = await auth_client.post(
            "/api/v1/auth/logout", json={"refresh_token": user_tokens["refresh_token"]}
        )
        assert response.status_code == 204
        rejected = await users_client.get(ME, headers=bearer(user_tokens))
        assert rejected.status_code == 401
        assert rejected.json()["code"] == "token_revoked"

    async def test_logout_all_is_seen_on_the_next_request(
        self, users_client: httpx.AsyncClient, auth_client: httpx.AsyncClient, user_tokens, login
    ):
        other_session = await login("alice")
        response = await auth_client.post("/api/v1/auth/logout-all", headers=bearer(user_tokens))
        assert response.status_code == 204
        for tokens in (user_tokens, other_session):
            assert (await users_client.get(ME, headers=bearer(tokens))).status_code == 401

    async def test_password_change_ends_the_other_sessions(
        self, users_client: httpx.AsyncClient, auth_client: httpx.AsyncClient, user_tokens, login
    ):
        other_session = await login("alice")
        response = await auth_client.post(
            "/api/v1/auth/password",
            headers=bearer(user_tokens),
            json={"current_password": PASSWORD, "new_password": "a-much-newer-secret-9"},
        )
        assert response.status_code == 204
        assert (await users_client.get(ME, headers=bearer(other_session))).status_code == 401
        assert (await users_client.get(ME, headers=bearer(user_tokens))).status_code == 200

    async def test_session_delete_is_seen_on_the_next_request(
        self, users_client: httpx.AsyncClient, auth_client: httpx.AsyncClient, user_tokens, login
    ):
        other_session = await login("alice")
        sessions = (
            await auth_client.get("/api/v1/auth/sessions", headers=bearer(user_tokens))
        ).json()
        target = next(s for s in sessions if not s.get("current"))
        response = await auth_client.delete(
            f"/api/v1/auth/sessions/{target['id']}", headers=bearer(user_tokens)
        )
        assert response.status_code == 204
        assert (await users_client.get(ME, headers=bearer(other_session))).status_code == 401
        assert (await users_client.get(ME, headers=bearer(user_tokens))).status_code == 200

    async def test_deactivation_is_seen_by_both_services(
        self,
        users_client: httpx.AsyncClient,
        auth_client: httpx.AsyncClient,
        user,
        user_tokens,
        admin_headers,
    ):
        response = await users_client.delete(f"/api/v1/users/{user['id']}", headers=admin_headers)
        assert response.status_code == 204
        assert (await users_client.get(ME, headers=bearer(user_tokens))).status_code == 401
        verify = await auth_client.get("/api/v1/auth/verify", headers=bearer(user_tokens))
        assert verify.status_code == 401

    async def test_token_signed_by_an_unpublished_key_is_rejected(
        self, users_client: httpx.AsyncClient, user
    ):
        for kid in ("test-rs256", "someone-elses-key"):
            forged = forge(kid, user["id"])
            response = await users_client.get(ME, headers={"Authorization": f"Bearer {forged}"})
            assert response.status_code == 401, kid
            assert response.json()["code"] == "invalid_token"

    async def test_cached_keys_keep_working_while_auth_is_down(
        self,
        users_client: httpx.AsyncClient,
        users_app: FastAPI,
        auth_headers,
        jwks_transport: SwitchableTransport,
    ):
        assert (await users_client.get(ME, headers=auth_headers)).status_code == 200
        jwks_transport.down = True
        assert await lifespan_state(users_app)["core"].jwks.refresh(force=True) is False
        assert (await users_client.get(ME, headers=auth_headers)).status_code == 200
        assert (await users_client.get("/readyz")).status_code == 200


class TestKeyRotation:
    async def test_new_key_becomes_active_and_old_key_retires(
        self, make_settings, make_users_settings, tmp_path: Path
    ):
        from tessera_auth.app import create_app as create_auth_app
        from tessera_users.app import create_app as create_users_app

        keys = tmp_path / "keys"
        old_pem = write_private_key(keys, "RS256", kid="2026-01-old")
        auth_app = create_auth_app(make_settings(keys_dir=keys))
        users_app = create_users_app(
            make_users_settings(), http_transport=httpx.ASGITransport(with_lifespan_state(auth_app))
        )
        async with running(auth_app) as auth, running(users_app) as users:
            body = {"username": "carol", "email": "carol@example.com", "password": PASSWORD}
            assert (await auth.post("/api/v1/auth/register", json=body)).status_code == 201

            async def login() -> dict[str, str]:
                response = await auth.post(
                    "/api/v1/auth/login", json={"username": "carol", "password": PASSWORD}
                )
                return bearer(response.json())

            old_token = await login()
            assert (await users.get(ME, headers=old_token)).status_code == 200

            write_private_key(keys, "ES256", kid="2026-02-new")
            lifespan_state(auth_app)["auth"].keys.reload()
            new_token = await login()
            assert unverified_header(new_token["Authorization"][7:])["kid"] == "2026-02-new"
            # An unknown kid makes the users service refetch the JWKS: both keys accepted.
            assert (await users.get(ME, headers=new_token)).status_code == 200
            assert (await users.get(ME, headers=old_token)).status_code == 200

            old_pem.unlink()
            lifespan_state(auth_app)["auth"].keys.reload()
            assert await lifespan_state(users_app)["core"].jwks.refresh(force=True) is True
            assert lifespan_state(users_app)["core"].jwks.kids == ["2026-02-new"]
            rejected = await users.get(ME, headers=old_token)
            assert rejected.status_code == 401
            assert rejected.json()["code"] == "invalid_token"
            assert (await users.get(ME, headers=new_token)).status_code == 200


class TestForgedKidFlood:
    async def test_at_most_one_refetch_per_interval(
        self, make_users_app, auth_client, user, jwks_transport: SwitchableTransport
    ):
        app = make_users_app(jwks_refetch_min_interval_seconds=1.0)
        async with running(app) as users:
            jwks = lifespan_state(app)["core"].jwks
            await asyncio.sleep(1.1)
            before = jwks.fetch_count
            tokens = [forge(f"forged-{i}", user["id"]) for i in range(3)]
            responses = await asyncio.gather(
                *(
                    users.get(ME, headers={"Authorization": f"Bearer {tokens[i % 3]}"})
                    for i in range(40)
                )
            )
            assert {r.status_code for r in responses} == {401}
            assert jwks.fetch_count - before <= 1
