"""POST /login, /refresh, /token, /revoke; GET /verify, /.well-known/*; the token format."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tessera_core.keygen import write_private_key
from tests.fixtures.apps import (
    ISSUER,
    PASSWORD,
    bearer,
    register_and_login,
    running,
    with_lifespan_state,
)
from tests.fixtures.jwt import unverified

LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
TOKEN = "/api/v1/auth/token"
REVOKE = "/api/v1/auth/revoke"
VERIFY = "/api/v1/auth/verify"


class TestLogin:
    async def test_returns_a_token_pair(self, auth_client: httpx.AsyncClient, user):
        response = await auth_client.post(LOGIN, json={"username": "alice", "password": PASSWORD})
        assert response.status_code == 200
        pair = response.json()
        assert set(pair) == {
            "access_token",
            "refresh_token",
            "token_type",
            "expires_in",
            "refresh_expires_in",
        }
        assert (pair["token_type"], pair["expires_in"], pair["refresh_expires_in"]) == (
            "Bearer",
            900,
            7 * 86400,
        )
        assert len(pair["refresh_token"]) >= 43  # 256 bits, base64url
        assert response.headers["cache-control"] == "no-store"

    async def test_accepts_the_email_case_insensitively(self, auth_client: httpx.AsyncClient, user):
        response = await auth_client.post(
            LOGIN, json={"username": "ALICE@example.com", "password": PASSWORD}
        )
        assert response.status_code == 200

    @pytest.mark.real_argon2
    async def test_unknown_user_and_wrong_password_look_the_same(
        self, auth_client: httpx.AsyncClient, user
    ):
        timings, bodies = [], []
        for username in ("alice", "nobody-here", "alice", "nobody-here"):
            started = time.perf_counter()
            response = await auth_client.post(
                LOGIN, json={"username": username, "password": "wrong-password"}
            )
            timings.append(time.perf_counter() - started)
            assert response.status_code == 401
            assert response.headers["www-authenticate"] == "Bearer"
            bodies.append(response.json())
        assert all(b == bodies[0] for b in bodies)
        assert bodies[0]["code"] == "invalid_credentials"
        # Both paths run one argon2 verification: neither is an order of magnitude faster.
        known, unknown = min(timings[0], timings[2]), min(timings[1], timings[3])
        assert 0.2 < known / unknown < 5

    async def test_inactive_account_is_401(self, auth_client: httpx.AsyncClient, user, db_engine):
        from sqlalchemy import text

        async with db_engine.begin() as conn:
            await conn.execute(
                text("UPDATE \"user\" SET is_active = false WHERE username = 'alice'")
            )
        response = await auth_client.post(LOGIN, json={"username": "alice", "password": PASSWORD})
        assert response.status_code == 401
        assert response.json()["code"] == "invalid_credentials"

    async def test_records_last_login(self, auth_client: httpx.AsyncClient, user, db_engine):
        from sqlalchemy import text

        before = datetime.now(UTC)
        await auth_client.post(LOGIN, json={"username": "alice", "password": PASSWORD})
        async with db_engine.connect() as conn:
            last_login = await conn.scalar(
                text("SELECT last_login FROM \"user\" WHERE username = 'alice'")
            )
        assert before <= last_login <= datetime.now(UTC)

    @pytest.mark.real_argon2
    async def test_rehashes_when_parameters_change(
        self, auth_client: httpx.AsyncClient, user, db_engine
    ):
        from argon2 import PasswordHasher as Argon2
        from sqlalchemy import text

        weak_hash = Argon2(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
        async with db_engine.begin() as conn:
            await conn.execute(
                text("UPDATE \"user\" SET password_hash = :h WHERE username = 'alice'"),
                {"h": weak_hash},
            )
        assert (
            await auth_client.post(LOGIN, json={"username": "alice", "password": PASSWORD})
        ).status_code == 200
        async with db_engine.connect() as conn:
            stored = await conn.scalar(
                text("SELECT password_hash FROM \"user\" WHERE username = 'alice'")
            )
        assert stored != weak_hash
        assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


def from_address(app, address: str) -> httpx.AsyncClient:
    """A client of the running ``app`` whose requests come from ``address``."""
    transport = httpx.ASGITransport(with_lifespan_state(app), client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def password_checks() -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("password_checks_total") or 0.0


class TestLoginThrottle:
    async def test_too_many_failures_for_one_account(self, auth_client: httpx.AsyncClient, user):
        for _ in range(5):
            response = await auth_client.post(
                LOGIN, json={"username": "alice", "password": "wrong-password"}
            )
            assert response.status_code == 401
        response = await auth_client.post(LOGIN, json={"username": "alice", "password": PASSWORD})
        assert response.status_code == 429
        assert response.json()["code"] == "too_many_attempts"
        assert 0 < int(response.headers["retry-after"]) <= 900

    async def test_concurrent_guesses_reach_the_hash_at_most_limit_times(
        self, auth_client: httpx.AsyncClient, user
    ):
        before = password_checks()
        responses = await asyncio.gather(
            *(
                auth_client.post(LOGIN, json={"username": "alice", "password": f"guess-{i}"})
                for i in range(50)
            )
        )
        checked = password_checks() - before
        print(f"50 concurrent guesses: {checked:.0f} reached the password hash")
        statuses = Counter(r.status_code for r in responses)
        assert checked == 5
        assert statuses == {401: 5, 429: 45}

    async def test_concurrent_correct_logins_all_succeed(
        self, auth_client: httpx.AsyncClient, user
    ):
        """More logins in flight than the limit only queue: the owner is not refused."""
        responses = await asyncio.gather(
            *(
                auth_client.post(LOGIN, json={"username": "alice", "password": PASSWORD})
                for _ in range(12)
            )
        )
        assert [r.status_code for r in responses] == [200] * 12

    async def test_the_key_says_nothing_about_which_email_is_whose(
        self, auth_client: httpx.AsyncClient, user
    ):
        """Counters follow the identifier typed, not the account: locking out "alice" does not
        lock out "alice@example.com", so a lockout cannot link a username to an email."""
        for _ in range(5):
            await auth_client.post(LOGIN, json={"username": "alice", "password": "wrong"})
        by_email = await auth_client.post(
            LOGIN, json={"username": "alice@example.com", "password": PASSWORD}
        )
        assert by_email.status_code == 200

    async def test_the_owner_logs_in_from_elsewhere_after_a_strangers_lockout(
        self, auth_app, auth_client: httpx.AsyncClient, user
    ):
        async with from_address(auth_app, "203.0.113.7") as stranger:
            for _ in range(5):
                response = await stranger.post(LOGIN, json={"username": "alice", "password": "x"})
                assert response.status_code == 401
            locked = await stranger.post(LOGIN, json={"username": "alice", "password": PASSWORD})
            assert locked.status_code == 429
        async with from_address(auth_app, "198.51.100.20") as owner:
            response = await owner.post(LOGIN, json={"username": "alice", "password": PASSWORD})
            assert response.status_code == 200

    async def test_failures_across_addresses_meet_the_account_limit(
        self, make_settings, register_user
    ):
        from tessera_auth.app import create_app

        app = create_app(make_settings(login_max_failures_per_account=4))
        async with running(app) as client:
            await client.post(
                "/api/v1/auth/register",
                json={"username": "carol", "email": "carol@example.com", "password": PASSWORD},
            )
            for i in range(4):
                async with from_address(app, f"192.0.2.{i + 1}") as botnet:
                    response = await botnet.post(
                        LOGIN, json={"username": "carol", "password": "wrong"}
                    )
                    assert response.status_code == 401
            async with from_address(app, "192.0.2.99") as another:
                response = await another.post(LOGIN, json={"username": "carol", "password": "x"})
                assert response.status_code == 429

    async def test_too_many_failures_from_one_address(self, make_settings, register_user):
        from tessera_auth.app import create_app

        app = create_app(make_settings(login_max_failures_per_client=3))
        async with running(app) as client:
            for name in ("u1", "u2", "u3"):
                response = await client.post(
                    LOGIN, json={"username": name, "password": "wrong-password"}
                )
                assert response.status_code == 401
            response = await client.post(
                LOGIN, json={"username": "u4", "password": "wrong-password"}
            )
            assert response.status_code == 429
            assert int(response.headers["retry-after"]) > 0
            async with from_address(app, "198.51.100.1") as elsewhere:
                response = await elsewhere.post(
                    LOGIN, json={"username": "u4", "password": "wrong-password"}
                )
                assert response.status_code == 401

    async def test_success_resets_the_account_counter(self, auth_client: httpx.AsyncClient, user):
        for _ in range(4):
            await auth_client.post(LOGIN, json={"username": "alice", "password": "wrong-password"})
        assert (
            await auth_client.post(LOGIN, json={"username": "alice", "password": PASSWORD})
        ).status_code == 200
        for _ in range(4):
            response = await auth_client.post(
                LOGIN, json={"username": "alice", "password": "wrong-password"}
            )
            assert response.status_code == 401

    async def test_redis_keys_hold_no_identifier(
        self, auth_client: httpx.AsyncClient, redis_client, user
    ):
        await auth_client.post(LOGIN, json={"username": "alice", "password": "wrong"})
        await auth_client.post(LOGIN, json={"username": "ghost@example.com", "password": "x"})
        keys = [k.decode() for k in await redis_client.keys("tessera:login-failures:*:failed")]
        assert len(keys) == 5  # two identifiers x (with address, alone) + the address
        assert not any("alice" in k or "ghost" in k for k in keys)


class TestRefresh:
    async def test_rotates_the_pair(self, auth_client: httpx.AsyncClient, user_tokens):
        response = await auth_client.post(
            REFRESH, json={"refresh_token": user_tokens["refresh_token"]}
        )
        assert response.status_code == 200
        pair = response.json()
        assert pair["refresh_token"] != user_tokens["refresh_token"]
        _, old_claims = unverified(user_tokens["access_token"])
        _, new_claims = unverified(pair["access_token"])
        assert new_claims["sid"] == old_claims["sid"]
        assert new_claims["jti"] != old_claims["jti"]
        assert (await auth_client.get(VERIFY, headers=bearer(pair))).status_code == 200

    async def test_reuse_revokes_the_whole_session(
        self, auth_client: httpx.AsyncClient, user_tokens
    ):
        first = (
            await auth_client.post(REFRESH, json={"refresh_token": user_tokens["refresh_token"]})
        ).json()
        second = (
            await auth_client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
        ).json()
        reused = await auth_client.post(
            REFRESH, json={"refresh_token": user_tokens["refresh_token"]}
        )
        assert reused.status_code == 401
        assert reused.json()["code"] == "refresh_token_reused"
        # Every token descended from that login is dead: the newest refresh token and all access tokens.
        latest = await auth_client.post(REFRESH, json={"refresh_token": second["refresh_token"]})
        assert latest.status_code == 401
        for pair in (user_tokens, first, second):
            rejected = await auth_client.get(VERIFY, headers=bearer(pair))
            assert rejected.status_code == 401
            assert rejected.json()["code"] == "token_revoked"

    async def test_reuse_within_the_grace_window_is_allowed(self, make_settings, register_user):
        from tessera_auth.app import create_app

        app = create_app(make_settings(refresh_reuse_grace_seconds=30))
        async with running(app) as client:
            pair = await register_and_login(client, "tabby")
            first = await client.post(REFRESH, json={"refresh_token": pair["refresh_token"]})
            second = await client.post(REFRESH, json={"refresh_token": pair["refresh_token"]})
            assert (first.status_code, second.status_code) == (200, 200)

    async def test_unknown_token(self, auth_client: httpx.AsyncClient):
        response = await auth_client.post(REFRESH, json={"refresh_token": "not-a-real-token"})
        assert response.status_code == 401
        assert response.json()["code"] == "invalid_refresh_token"

    async def test_expired_session(self, auth_client: httpx.AsyncClient, user_tokens, db_engine):
        from sqlalchemy import text

        async with db_engine.begin() as conn:
            await conn.execute(
                text("UPDATE login_session SET expires_at = now() - interval '1 second'")
            )
        response = await auth_client.post(
            REFRESH, json={"refresh_token": user_tokens["refresh_token"]}
        )
        assert response.status_code == 401
        assert response.json()["code"] == "invalid_refresh_token"

    async def test_only_the_hash_is_stored(
        self, auth_client: httpx.AsyncClient, user_tokens, db_engine
    ):
        from sqlalchemy import text

        async with db_engine.connect() as conn:
            stored = (
                (await conn.execute(text("SELECT token_hash FROM refresh_token"))).scalars().all()
            )
        assert len(stored) == 1
        assert user_tokens["refresh_token"].encode() not in stored[0]
        assert len(stored[0]) == 32


class TestRefreshHandOff:
    """``RefreshHotPath`` rotates a live token itself and hands every other request, body
    and all, to the route: the answers are the route's."""

    async def test_the_rotated_pair_has_the_routes_shape_and_headers(
        self, auth_client: httpx.AsyncClient, user_tokens
    ):
        response = await auth_client.post(
            REFRESH, json={"refresh_token": user_tokens["refresh_token"]}
        )
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["content-type"] == "application/json"
        assert set(response.json()) == {
            "access_token",
            "refresh_token",
            "token_type",
            "expires_in",
            "refresh_expires_in",
        }
        assert response.json()["token_type"] == "Bearer"

    @pytest.mark.parametrize(
        ("content", "content_type"),
        [
            (b'{"refresh_token": "x", "extra": 1}', "application/json"),
            (b"{not json", "application/json"),
            (b"[]", "application/json"),
            (b"refresh_token=x", "application/x-www-form-urlencoded"),
        ],
    )
    async def test_a_body_it_cannot_read_gets_the_routes_422(
        self, auth_client: httpx.AsyncClient, content: bytes, content_type: str
    ):
        response = await auth_client.post(
            REFRESH, content=content, headers={"Content-Type": content_type}
        )
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"

    async def test_a_chunked_body_is_read_by_the_route(
        self, auth_client: httpx.AsyncClient, user_tokens
    ):
        async def chunks():
            yield b'{"refresh_token": "'
            yield user_tokens["refresh_token"].encode() + b'"}'

        response = await auth_client.post(
            REFRESH, content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 200
        assert (await auth_client.get(VERIFY, headers=bearer(response.json()))).status_code == 200

    async def test_an_inactive_account_is_refused_by_the_route(
        self, auth_client: httpx.AsyncClient, user_tokens, db_engine
    ):
        from sqlalchemy import text

        async with db_engine.begin() as conn:
            await conn.execute(text('UPDATE "user" SET is_active = false'))
        response = await auth_client.post(
            REFRESH, json={"refresh_token": user_tokens["refresh_token"]}
        )
        assert response.status_code == 401
        assert response.json()["code"] == "invalid_refresh_token"


class TestTokenFormat:
    async def test_rfc9068_header_and_claims(
        self, auth_client: httpx.AsyncClient, user, user_tokens
    ):
        header, claims = unverified(user_tokens["access_token"])
        assert header == {"typ": "at+jwt", "alg": "RS256", "kid": "test-rs256"}
        assert {
            "iss",
            "aud",
            "sub",
            "exp",
            "iat",
            "jti",
            "sid",
            "client_id",
            "preferred_username",
            "roles",
        } <= set(claims)
        assert (claims["iss"], claims["aud"], claims["sub"]) == (ISSUER, "tessera", user["id"])
        assert claims["exp"] - claims["iat"] == 900
        assert (claims["preferred_username"], claims["roles"]) == ("alice", [])

    async def test_admin_role(self, admin_tokens):
        _, claims = unverified(admin_tokens["access_token"])
        assert claims["roles"] == ["admin"]

    @pytest.mark.parametrize(("algorithm", "kty"), [("ES256", "EC"), ("EdDSA", "OKP")])
    async def test_other_algorithms_selectable(
        self, make_settings, tmp_path: Path, algorithm: str, kty: str
    ):
        from tessera_auth.app import create_app

        write_private_key(tmp_path, algorithm, kid=f"k-{algorithm.lower()}")
        app = create_app(make_settings(keys_dir=tmp_path))
        async with running(app) as client:
            pair = await register_and_login(client, "eddie")
            header, _ = unverified(pair["access_token"])
            assert header["alg"] == algorithm
            assert (await client.get(VERIFY, headers=bearer(pair))).status_code == 200
            jwks = (await client.get("/.well-known/jwks.json")).json()
            assert [(k["kty"], k["alg"]) for k in jwks["keys"]] == [(kty, algorithm)]


class TestTokenEndpoint:
    async def test_password_grant(self, auth_client: httpx.AsyncClient, user):
        response = await auth_client.post(
            TOKEN, data={"grant_type": "password", "username": "alice", "password": PASSWORD}
        )
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["pragma"] == "no-cache"
        assert response.json()["token_type"] == "Bearer"

    async def test_refresh_token_grant(self, auth_client: httpx.AsyncClient, user_tokens):
        response = await auth_client.post(
            TOKEN,
            data={"grant_type": "refresh_token", "refresh_token": user_tokens["refresh_token"]},
        )
        assert response.status_code == 200
        assert response.json()["refresh_token"] != user_tokens["refresh_token"]

    @pytest.mark.parametrize(
        ("data", "status", "error"),
        [
            (
                {"grant_type": "password", "username": "alice", "password": "wrong-password"},
                400,
                "invalid_grant",
            ),
            ({"grant_type": "refresh_token", "refresh_token": "bogus"}, 400, "invalid_grant"),
            ({"grant_type": "client_credentials"}, 400, "unsupported_grant_type"),
            ({"grant_type": "password", "username": "alice"}, 400, "invalid_request"),
            ({"grant_type": "refresh_token"}, 400, "invalid_request"),
            ({"username": "alice", "password": PASSWORD}, 400, "invalid_request"),
        ],
    )
    async def test_rfc6749_errors(self, auth_client: httpx.AsyncClient, user, data, status, error):
        response = await auth_client.post(TOKEN, data=data)
        assert response.status_code == status
        assert set(response.json()) == {"error", "error_description"}
        assert response.json()["error"] == error
        assert response.headers["cache-control"] == "no-store"

    async def test_reused_refresh_token_is_invalid_grant(
        self, auth_client: httpx.AsyncClient, user_tokens
    ):
        data = {"grant_type": "refresh_token", "refresh_token": user_tokens["refresh_token"]}
        assert (await auth_client.post(TOKEN, data=data)).status_code == 200
        reused = await auth_client.post(TOKEN, data=data)
        assert reused.json()["error"] == "invalid_grant"
        assert "already used" in reused.json()["error_description"]

    async def test_throttled(self, auth_client: httpx.AsyncClient, user):
        for _ in range(5):
            await auth_client.post(
                TOKEN, data={"grant_type": "password", "username": "alice", "password": "x-wrong-x"}
            )
        response = await auth_client.post(
            TOKEN, data={"grant_type": "password", "username": "alice", "password": PASSWORD}
        )
        assert response.status_code == 429
        assert response.json()["error"] == "too_many_attempts"
        assert int(response.headers["retry-after"]) > 0


class TestRevoke:
    async def test_refresh_token_revokes_its_session(
        self, auth_client: httpx.AsyncClient, user_tokens
    ):
        response = await auth_client.post(REVOKE, data={"token": user_tokens["refresh_token"]})
        assert response.status_code == 200
        assert (
            await auth_client.post(REFRESH, json={"refresh_token": user_tokens["refresh_token"]})
        ).status_code == 401
        assert (await auth_client.get(VERIFY, headers=bearer(user_tokens))).status_code == 401

    async def test_access_token_revokes_only_itself(
        self, auth_client: httpx.AsyncClient, user_tokens
    ):
        response = await auth_client.post(
            REVOKE, data={"token": user_tokens["access_token"], "token_type_hint": "access_token"}
        )
        assert response.status_code == 200
        rejected = await auth_client.get(VERIFY, headers=bearer(user_tokens))
        assert rejected.json()["code"] == "token_revoked"
        refreshed = await auth_client.post(
            REFRESH, json={"refresh_token": user_tokens["refresh_token"]}
        )
        assert refreshed.status_code == 200

    async def test_access_token_without_hint(self, auth_client: httpx.AsyncClient, user_tokens):
        assert (
            await auth_client.post(REVOKE, data={"token": user_tokens["access_token"]})
        ).status_code == 200
        assert (await auth_client.get(VERIFY, headers=bearer(user_tokens))).status_code == 401

    @pytest.mark.parametrize("token", ["unknown", "a.b.c", "x" * 300])
    async def test_unknown_tokens_are_200(self, auth_client: httpx.AsyncClient, token: str):
        assert (await auth_client.post(REVOKE, data={"token": token})).status_code == 200

    async def test_missing_token_is_invalid_request(self, auth_client: httpx.AsyncClient):
        response = await auth_client.post(REVOKE, data={})
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_request"


class TestVerify:
    async def test_forward_auth_headers(self, auth_client: httpx.AsyncClient, admin, admin_tokens):
        response = await auth_client.get(VERIFY, headers=bearer(admin_tokens))
        assert response.status_code == 200
        assert response.headers["x-auth-user-id"] == admin["id"]
        assert response.headers["x-auth-username"] == admin["username"]
        assert response.headers["x-auth-roles"] == "admin"

    async def test_no_token(self, auth_client: httpx.AsyncClient):
        response = await auth_client.get(VERIFY)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"

    async def test_garbage_token(self, auth_client: httpx.AsyncClient):
        response = await auth_client.get(VERIFY, headers={"Authorization": "Bearer not.a.jwt"})
        assert response.status_code == 401
        assert response.json()["code"] == "invalid_token"
        assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


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
        assert metadata["grant_types_supported"] == ["password", "refresh_token"]

    async def test_openapi_docs_under_the_service_prefix(self, auth_client: httpx.AsyncClient):
        schema = (await auth_client.get("/api/v1/auth/openapi.json")).json()
        assert "/api/v1/auth/register" in schema["paths"]
        assert "409" in schema["paths"]["/api/v1/auth/register"]["post"]["responses"]
        assert (await auth_client.get("/api/v1/auth/docs")).status_code == 200
