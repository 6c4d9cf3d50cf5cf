"""Failing closed and recovering: Redis down, Redis flushed, readiness, metrics."""

from __future__ import annotations

import asyncio
import signal
import time
from typing import Any

import httpx
import psycopg

from tests.fixtures.apps import PASSWORD, bearer, register_and_login, running
from tests.fixtures.servers import LocalRedis

VERIFY = "/api/v1/auth/verify"
LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"


class TestRedisDown:
    async def test_fails_closed_then_recovers(self, make_settings, own_redis: LocalRedis):
        from tessera_auth.app import create_app

        app = create_app(make_settings(redis_url=own_redis.url()))
        async with running(app) as client:
            pair = await register_and_login(client, "rita")
            headers = {"Authorization": f"Bearer {pair['access_token']}"}
            assert (await client.get(VERIFY, headers=headers)).status_code == 200

            own_redis.stop()
            down = await client.get(VERIFY, headers=headers)
            assert down.status_code == 503
            assert down.json()["code"] == "revocation_unavailable"
            assert "retry-after" in down.headers
            login = await client.post(LOGIN, json={"username": "rita", "password": PASSWORD})
            assert login.status_code == 503
            token = await client.post(
                "/api/v1/auth/token",
                data={"grant_type": "password", "username": "rita", "password": PASSWORD},
            )
            assert (token.status_code, token.json()["error"]) == (503, "temporarily_unavailable")
            ready = await client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"]["redis"] == "failing"
            assert (await client.get("/healthz")).status_code == 200

            own_redis.start()
            assert (await client.get("/readyz")).status_code == 200
            assert (await client.get(VERIFY, headers=headers)).status_code == 200

    async def test_revocations_answer_while_redis_is_down_and_hold_once_it_is_back(
        self, make_settings, own_redis: LocalRedis
    ):
        """PostgreSQL first: logout and logout-all commit and answer 204 with Redis down
        (logout-all's Bearer token is checked in PostgreSQL); once Redis is back, empty,
        nothing they revoked is accepted."""
        from tessera_auth.app import create_app

        app = create_app(make_settings(redis_url=own_redis.url()))
        async with running(app) as client:
            pair = await register_and_login(client, "rita")
            other = await client.post(LOGIN, json={"username": "rita", "password": PASSWORD})
            everything = await client.post(LOGIN, json={"username": "rita", "password": PASSWORD})
            own_redis.stop()
            logout = await client.post(
                "/api/v1/auth/logout",
                json={"refresh_token": pair["refresh_token"]},
                headers={"Authorization": f"Bearer {pair['access_token']}"},
            )
            assert logout.status_code == 204, logout.text
            logout_all = await client.post(
                "/api/v1/auth/logout-all",
                headers={"Authorization": f"Bearer {everything.json()['access_token']}"},
            )
            assert logout_all.status_code == 204, logout_all.text
            # A token the database knows is revoked gets no further while Redis is down.
            again = await client.post(
                "/api/v1/auth/logout-all",
                headers={"Authorization": f"Bearer {pair['access_token']}"},
            )
            assert (again.status_code, again.json()["code"]) == (401, "token_revoked")
            refresh = await client.post(
                "/api/v1/auth/refresh", json={"refresh_token": other.json()["refresh_token"]}
            )
            assert refresh.status_code == 401

            own_redis.start()
            for token in (pair, other.json(), everything.json()):
                response = await client.get(
                    VERIFY, headers={"Authorization": f"Bearer {token['access_token']}"}
                )
                assert (response.status_code, response.json()["code"]) == (401, "token_revoked")


class TestRedisRestarts:
    async def test_no_request_fails_on_a_connection_redis_dropped_while_idle(
        self, make_settings, own_redis: LocalRedis
    ):
        """A Redis restart leaves every pooled connection dead. A client that arrives once
        Redis is back must not get a 503 per dead connection: each is reconnected on use."""
        from tessera_auth.app import create_app

        app = create_app(make_settings(redis_url=own_redis.url()))
        async with running(app) as client:
            pair = await register_and_login(client, "rosa")
            # Concurrent requests hold several Redis connections at once: the pool keeps them.
            warm = await asyncio.gather(
                *(client.get(VERIFY, headers=bearer(pair)) for _ in range(8))
            )
            assert [r.status_code for r in warm] == [200] * 8
            own_redis.restart()
            assert (await client.get("/readyz")).status_code == 200
            after = await asyncio.gather(
                *(client.get(VERIFY, headers=bearer(pair)) for _ in range(8)),
                *(
                    client.post(LOGIN, json={"username": "rosa", "password": PASSWORD})
                    for _ in range(4)
                ),
            )
            assert [r.status_code for r in after] == [200] * 12, [r.text for r in after]


class TestRedisStalls:
    async def test_a_server_that_stops_answering_costs_one_timeout_then_recovers(
        self, make_settings, own_redis: LocalRedis
    ):
        """A stalled Redis (alive, connected, silent) is caught by the read's timeout: the
        check answers 503 within about one timeout, and 200 once Redis answers again."""
        from tessera_auth.app import create_app

        app = create_app(make_settings(redis_url=own_redis.url(), redis_timeout_seconds=0.5))
        async with running(app) as client:
            pair = await register_and_login(client, "stella")
            assert (await client.get(VERIFY, headers=bearer(pair))).status_code == 200
            assert own_redis.process is not None
            own_redis.process.send_signal(signal.SIGSTOP)
            try:
                started = time.perf_counter()
                stalled = await client.get(VERIFY, headers=bearer(pair))
                waited = time.perf_counter() - started
                ready = await client.get("/readyz")
            finally:
                own_redis.process.send_signal(signal.SIGCONT)
            assert (stalled.status_code, stalled.json()["code"]) == (503, "revocation_unavailable")
            assert 0.5 <= waited < 2.0, waited
            assert ready.status_code == 503
            assert (await client.get(VERIFY, headers=bearer(pair))).status_code == 200
            assert (await client.get("/readyz")).status_code == 200


class TestRedisLosesItsData:
    async def test_revoked_tokens_stay_revoked_after_a_flush(
        self, auth_client: httpx.AsyncClient, user, login, redis_client
    ):
        revoked, alive = await login("alice"), await login("alice")
        await auth_client.post(
            "/api/v1/auth/logout", json={"refresh_token": revoked["refresh_token"]}
        )
        single = await login("alice")
        await auth_client.post("/api/v1/auth/revoke", data={"token": single["access_token"]})
        await redis_client.flushdb()
        for pair in (revoked, single):
            response = await auth_client.get(
                VERIFY, headers={"Authorization": f"Bearer {pair['access_token']}"}
            )
            assert response.json()["code"] == "token_revoked"
        response = await auth_client.get(
            VERIFY, headers={"Authorization": f"Bearer {alive['access_token']}"}
        )
        assert response.status_code == 200

    async def test_logout_all_survives_a_flush(
        self, auth_client: httpx.AsyncClient, user, login, redis_client
    ):
        pair = await login("alice")
        await auth_client.post(
            "/api/v1/auth/logout-all", headers={"Authorization": f"Bearer {pair['access_token']}"}
        )
        await redis_client.flushdb()
        response = await auth_client.get(
            VERIFY, headers={"Authorization": f"Bearer {pair['access_token']}"}
        )
        assert response.json()["code"] == "token_revoked"


class TestReadiness:
    async def test_ready_with_every_dependency(self, auth_client: httpx.AsyncClient):
        response = await auth_client.get("/readyz")
        assert response.status_code == 200
        assert response.json() == {
            "status": "ready",
            "checks": {"database": "ok", "redis": "ok", "signing_keys": "ok"},
            "details": {"redis": {"maxmemory_policy": "noeviction"}},
        }

    async def test_database_down(self, make_settings):
        from tessera_auth.app import create_app

        app = create_app(make_settings(database_url="postgresql+psycopg://nobody@127.0.0.1:1/none"))
        async with running(app) as client:
            response = await client.get("/readyz")
            assert response.status_code == 503
            assert response.json()["checks"]["database"] == "failing"
            register = await client.post(
                "/api/v1/auth/register",
                json={"username": "zed", "email": "zed@example.com", "password": PASSWORD},
            )
            assert register.status_code == 503
            assert register.json()["code"] == "database_unavailable"
            assert "postgresql" not in register.text.lower()
            assert "nobody" not in register.text


class TestMetrics:
    async def test_counters(self, auth_client: httpx.AsyncClient, user, user_tokens):
        await auth_client.post(LOGIN, json={"username": "alice", "password": "wrong-password"})
        await auth_client.post(
            "/api/v1/auth/refresh", json={"refresh_token": user_tokens["refresh_token"]}
        )
        await auth_client.post(
            "/api/v1/auth/refresh", json={"refresh_token": user_tokens["refresh_token"]}
        )
        text = (await auth_client.get("/metrics")).text
        for sample in (
            'auth_logins_total{result="success"}',
            'auth_logins_total{result="failure"}',
            'auth_tokens_issued_total{kind="access"}',
            'auth_tokens_issued_total{kind="refresh"}',
            "auth_tokens_revoked_total",
            "auth_refresh_reuse_detected_total",
            'token_verifications_total{result="valid"}',
            'http_requests_total{method="POST",route="/api/v1/auth/login",service="auth",status="401"}',
            'http_request_duration_seconds_bucket{le="0.5",method="POST",route="/api/v1/auth/login",service="auth"}',
        ):
            assert sample in text, sample

    async def test_route_templates_not_raw_paths(self, auth_client: httpx.AsyncClient, user_tokens):
        headers = {"Authorization": f"Bearer {user_tokens['access_token']}"}
        await auth_client.delete(
            "/api/v1/auth/sessions/00000000-0000-0000-0000-000000000001", headers=headers
        )
        await auth_client.get("/no/such/path/12345")
        text = (await auth_client.get("/metrics")).text
        assert 'route="/api/v1/auth/sessions/{session_id}"' in text
        assert "00000000-0000-0000-0000-000000000001" not in text
        assert "/no/such/path" not in text
        assert 'route="unmatched"' in text


async def end_every_connection_but_ours(database_url: str) -> int:
    """What a PostgreSQL restart does to a service's idle pooled connections: each backend
    is told to exit (FATAL 57P01) and its socket closed. Returns how many were ended."""
    async with await psycopg.AsyncConnection.connect(
        database_url.replace("+psycopg", ""), autocommit=True
    ) as admin:
        ended = await (
            await admin.execute(
                "SELECT pid FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ).fetchall()
        for (pid,) in ended:
            await admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        for _ in range(100):
            gone = await (
                await admin.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)",
                    ([pid for (pid,) in ended],),
                )
            ).fetchone()
            if gone == (0,):
                break
            await asyncio.sleep(0.05)
    return len(ended)


class TestPostgresEndsItsConnections:
    async def test_no_request_fails_on_a_connection_postgres_ended_while_idle(
        self, auth_client: httpx.AsyncClient, user_tokens: dict[str, Any], database_url: str
    ):
        """After a PostgreSQL restart every pooled connection is dead. The pool notices at
        checkout, for the ORM session and the SQL alike, not by failing a request: a
        client that arrives later must not get a 503 per dead connection."""
        pair = user_tokens
        for _ in range(3):
            pair = (
                await auth_client.post(REFRESH, json={"refresh_token": pair["refresh_token"]})
            ).json()
        assert await end_every_connection_but_ours(database_url) >= 2

        statuses = []
        for _ in range(15):
            refreshed = await auth_client.post(
                REFRESH, json={"refresh_token": pair["refresh_token"]}
            )
            statuses.append(refreshed.status_code)
            if refreshed.is_success:
                pair = refreshed.json()
            sessions = await auth_client.get("/api/v1/auth/sessions", headers=bearer(pair))
            statuses.append(sessions.status_code)
        assert statuses == [200] * 30


class TestClosedByServer:
    async def test_tells_a_connection_postgres_ended_from_a_live_idle_one(self, database_url: str):
        from tessera_core.db.engine import closed_by_server

        plain = database_url.replace("+psycopg", "")
        async with (
            await psycopg.AsyncConnection.connect(plain, autocommit=True) as live,
            await psycopg.AsyncConnection.connect(plain, autocommit=True) as doomed,
            await psycopg.AsyncConnection.connect(plain, autocommit=True) as admin,
        ):
            await live.execute("SELECT 1")
            assert not closed_by_server(live)
            assert not closed_by_server(doomed)
            await admin.execute("SELECT pg_terminate_backend(%s)", (doomed.info.backend_pid,))
            for _ in range(100):
                if closed_by_server(doomed):
                    break
                await asyncio.sleep(0.02)
            assert closed_by_server(doomed)
            assert not closed_by_server(live)
            assert (await (await live.execute("SELECT 1")).fetchone()) == (1,)
