"""What a 2xx promises holds: commits before answering, revocations that outlive their
token's leeway, a partial loss of Redis data, writes Redis could not take, and races on one
token. Real PostgreSQL and Redis, the auth app in-process."""

from __future__ import annotations

import asyncio
import time

import httpx
import psycopg
import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from tessera_core.revocation import jti_key, not_before_key, sid_key
from tests.fixtures.apps import PASSWORD, bearer, running
from tests.fixtures.jwt import unverified
from tests.fixtures.servers import LocalRedis

VERIFY = "/api/v1/auth/verify"
REFRESH = "/api/v1/auth/refresh"


async def revoked_rows(db_engine) -> list[str]:
    async with db_engine.connect() as conn:
        return list((await conn.execute(text("SELECT jti FROM revoked_access_token"))).scalars())


class TestCommitBeforeAnswering:
    async def test_a_commit_that_fails_answers_503_and_keeps_nothing(
        self, auth_client: httpx.AsyncClient, database_url: str, db_engine
    ):
        """The handler has run and flushed the row; PostgreSQL drops the connection before
        the commit: the client gets a 503, never the 201, and no account exists."""
        plain_url = database_url.replace("+psycopg", "")

        def terminate_connection(session: Session) -> None:
            pid = session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar()
            with psycopg.connect(plain_url, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))

        event.listen(Session, "before_commit", terminate_connection)
        try:
            response = await auth_client.post(
                "/api/v1/auth/register",
                json={"username": "ghost", "email": "ghost@example.com", "password": PASSWORD},
            )
        finally:
            event.remove(Session, "before_commit", terminate_connection)
        assert response.status_code == 503, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "database_unavailable"
        async with db_engine.connect() as conn:
            count = await conn.scalar(text("SELECT count(*) FROM \"user\" WHERE username='ghost'"))
        assert count == 0
        # The pool drops the dead connection: the next request works.
        again = await auth_client.post(
            "/api/v1/auth/register",
            json={"username": "ghost", "email": "ghost@example.com", "password": PASSWORD},
        )
        assert again.status_code == 201


class TestLeeway:
    async def test_a_token_revoked_inside_its_leeway_stays_revoked(
        self, auth_client: httpx.AsyncClient, user_tokens, keys_dir, redis_client: Redis, db_engine
    ):
        from tests.fixtures.jwt import claims_for, sign, signing_key

        expired = int(time.time()) - 5  # past exp, inside the 30 s leeway: still accepted
        token = sign(claims_for(user_tokens, exp=expired), signing_key(keys_dir))
        assert (await auth_client.get(VERIFY, headers=bearer({"access_token": token}))).is_success
        assert (await auth_client.post("/api/v1/auth/revoke", data={"token": token})).is_success
        _, claims = unverified(token)
        assert await revoked_rows(db_engine) == [claims["jti"]]
        ttl = await redis_client.ttl(jti_key(claims["iss"], claims["jti"], claims["sub"]))
        assert 20 <= ttl <= 30  # exp + leeway - now
        response = await auth_client.get(VERIFY, headers=bearer({"access_token": token}))
        assert (response.status_code, response.json()["code"]) == (401, "token_revoked")


class TestConcurrentRevocation:
    async def test_one_access_token_revoked_twenty_times_at_once(
        self, auth_client: httpx.AsyncClient, user_tokens, db_engine
    ):
        before = REGISTRY.get_sample_value("auth_tokens_revoked_total") or 0
        responses = await asyncio.gather(
            *(
                auth_client.post("/api/v1/auth/revoke", data={"token": user_tokens["access_token"]})
                for _ in range(20)
            )
        )
        assert [r.status_code for r in responses] == [200] * 20
        assert len(await revoked_rows(db_engine)) == 1
        assert REGISTRY.get_sample_value("auth_tokens_revoked_total") == before + 1
        response = await auth_client.get(VERIFY, headers=bearer(user_tokens))
        assert response.json()["code"] == "token_revoked"


class TestRefreshTokenEdges:
    @pytest.mark.parametrize("length", [0, 600, 5000, 200_000])
    async def test_anything_not_a_live_refresh_token_is_401(
        self, auth_client: httpx.AsyncClient, length: int
    ):
        junk = "x" * length
        refresh = await auth_client.post(REFRESH, json={"refresh_token": junk})
        assert (refresh.status_code, refresh.json()["code"]) == (401, "invalid_refresh_token")
        logout = await auth_client.post("/api/v1/auth/logout", json={"refresh_token": junk})
        assert (logout.status_code, logout.json()["code"]) == (401, "invalid_refresh_token")
        if length:
            token = await auth_client.post(
                "/api/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": junk}
            )
            assert (token.status_code, token.json()["error"]) == (400, "invalid_grant")

    async def test_an_access_token_presented_as_a_refresh_token(
        self, auth_client: httpx.AsyncClient, user_tokens
    ):
        response = await auth_client.post(
            REFRESH, json={"refresh_token": user_tokens["access_token"]}
        )
        assert (response.status_code, response.json()["code"]) == (401, "invalid_refresh_token")

    @pytest.mark.parametrize(
        ("kind", "hint"), [("access_token", "refresh_token"), ("refresh_token", "access_token")]
    )
    async def test_a_wrong_hint_still_revokes(
        self, auth_client: httpx.AsyncClient, user_tokens, kind: str, hint: str
    ):
        response = await auth_client.post(
            "/api/v1/auth/revoke", data={"token": user_tokens[kind], "token_type_hint": hint}
        )
        assert response.status_code == 200
        verify = await auth_client.get(VERIFY, headers=bearer(user_tokens))
        assert verify.json()["code"] == "token_revoked"


@pytest.fixture
async def own_redis_client(own_redis: LocalRedis):
    client = Redis.from_url(own_redis.url())
    yield client
    await client.aclose()


class TestPartialLoss:
    async def test_a_deleted_revocation_is_reasserted_within_the_resync_interval(
        self, make_settings, own_redis: LocalRedis, own_redis_client: Redis
    ):
        from tessera_auth.app import create_app
        from tests.fixtures.apps import register_and_login

        app = create_app(make_settings(redis_url=own_redis.url(), revocation_resync_seconds=1.5))
        redis = own_redis_client
        async with running(app) as client:
            pair = await register_and_login(client, "paula")
            await client.post("/api/v1/auth/logout", json={"refresh_token": pair["refresh_token"]})
            _, claims = unverified(pair["access_token"])
            assert await redis.delete(sid_key(claims["sid"], claims["sub"])) == 1
            # The loss is silent (the epoch marker stands): only the periodic resync, within
            # its interval, makes the token refused again.
            lost_at = time.monotonic()
            while (await client.get(VERIFY, headers=bearer(pair))).status_code == 200:
                waited = time.monotonic() - lost_at
                assert waited < 1.5 + 1, f"not re-asserted after {waited:.2f}s"
                await asyncio.sleep(0.05)
            response = await client.get(VERIFY, headers=bearer(pair))
            assert response.json()["code"] == "token_revoked"

    async def test_a_write_redis_could_not_take_is_reasserted(
        self, make_settings, own_redis: LocalRedis, own_redis_client: Redis
    ):
        """Redis up, data intact, but writes stalled past the timeout during a logout: the
        logout answers 204 (PostgreSQL has it); the process that failed the write accepts no
        token until a resync, and a second process that saw nothing refuses the token once
        the first has re-asserted it, with no request to either."""
        from tessera_auth.app import create_app
        from tests.fixtures.apps import register_and_login

        stalled = make_settings(redis_url=own_redis.url(), redis_timeout_seconds=1.0)
        writer, bystander = create_app(stalled), create_app(stalled)
        redis = own_redis_client
        async with running(writer) as client, running(bystander) as other:
            pair = await register_and_login(client, "wanda")
            assert (await other.get(VERIFY, headers=bearer(pair))).status_code == 200
            await redis.execute_command("CLIENT", "PAUSE", "1500", "WRITE")
            logout = await client.post(
                "/api/v1/auth/logout", json={"refresh_token": pair["refresh_token"]}
            )
            assert logout.status_code == 204
            during = await client.get(VERIFY, headers=bearer(pair))
            # In doubt of Redis, the writer checks PostgreSQL, which holds the revocation.
            assert (during.status_code, during.json()["code"]) == (401, "token_revoked")
            await asyncio.sleep(1.5 + 1.0)  # pause over; the writer's keeper re-asserts
            for app_client in (client, other):
                response = await app_client.get(VERIFY, headers=bearer(pair))
                assert (response.status_code, response.json()["code"]) == (401, "token_revoked")


class TestEvictionPolicy:
    @pytest.mark.parametrize(("allow", "ready"), [(False, 503), (True, 200)])
    async def test_readiness_refuses_a_redis_that_may_evict(
        self, make_settings, own_redis: LocalRedis, own_redis_client: Redis, allow: bool, ready: int
    ):
        from tessera_auth.app import create_app

        await own_redis_client.config_set("maxmemory-policy", "allkeys-lru")
        app = create_app(make_settings(redis_url=own_redis.url(), redis_allow_eviction=allow))
        async with running(app) as client:
            response = await client.get("/readyz")
        assert response.status_code == ready, response.text
        detail = response.json()["details"]["redis"]
        assert detail["maxmemory_policy"] == "allkeys-lru"
        assert ("TESSERA_REDIS_ALLOW_EVICTION" in detail.get("problem", "")) is (not allow)

    async def test_dev_accepts_it(
        self, make_settings, own_redis: LocalRedis, own_redis_client: Redis
    ):
        from tessera_auth.app import create_app

        await own_redis_client.config_set("maxmemory-policy", "volatile-ttl")
        app = create_app(make_settings(redis_url=own_redis.url(), env="dev"))
        async with running(app) as client:
            response = await client.get("/readyz")
        assert response.status_code == 200, response.text


class TestFastPathWrites:
    async def test_an_older_value_or_shorter_ttl_never_replaces_a_newer_one(
        self, auth_app, auth_client: httpx.AsyncClient, redis_client: Redis
    ):
        """A resync that read PostgreSQL just before a newer "not before" was written must
        not roll it back, nor shorten a deny-list entry."""
        from tests.fixtures.apps import lifespan_state

        store = lifespan_state(auth_app)["core"].revocation
        nbf, sid = not_before_key("u1"), sid_key("s1", "u1")
        await store._write([(nbf, "200", 100), (sid, "1", 50)])
        await store._write([(nbf, "100", 10), (sid, "1", 5)])
        assert await redis_client.get(nbf) == b"200"
        assert 95 <= await redis_client.ttl(nbf) <= 100
        assert 45 <= await redis_client.ttl(sid) <= 50
        await store._write([(nbf, "300", 10)])
        assert await redis_client.get(nbf) == b"300"
