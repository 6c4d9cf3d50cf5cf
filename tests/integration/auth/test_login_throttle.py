"""Failed password checks before 429: per account and client, per account, per client."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx

from tests.fixtures.apps import PASSWORD, running, with_lifespan_state

LOGIN = "/api/v1/auth/login"


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
        self, make_settings, register_user
    ):
        from tessera_auth.app import create_app

        await register_user("alice")
        # Fifty requests in one event loop on a busy machine can wait longer than the
        # default 1 s Redis timeout (503 rate_limiter_unavailable): this counts, not times.
        app = create_app(make_settings(redis_timeout_seconds=10))
        async with running(app) as client:
            before = password_checks()
            responses = await asyncio.gather(
                *(
                    client.post(LOGIN, json={"username": "alice", "password": f"guess-{i}"})
                    for i in range(50)
                )
            )
            checked = password_checks() - before
        print(f"50 concurrent guesses: {checked:.0f} reached the password hash")
        statuses = Counter(r.status_code for r in responses)
        assert checked == 5
        assert statuses == {401: 5, 429: 45}, {r.text for r in responses if r.status_code == 503}

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
