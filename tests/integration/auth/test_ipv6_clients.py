"""An IPv6 host is one client: every limit keyed by a client address counts an IPv6
address by its /64 (``TESSERA_IPV6_CLIENT_PREFIX``), an IPv4-mapped one as IPv4."""

from __future__ import annotations

import httpx
import pytest

from tests.fixtures.apps import PASSWORD, bearer, built_auth_app, running, with_lifespan_state

LOGIN = "/api/v1/auth/login"
FORGOT = "/api/v1/auth/password/forgot"
# One host's /64: every address below is in it.
HOST_64 = "2001:db8:5:7"


def in_the_64(i: int) -> str:
    return f"{HOST_64}:{i:x}:{i:x}:{i:x}:{i + 1:x}"


def from_address(app, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(with_lifespan_state(app), client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def login_from(app, address: str, username: str, password: str) -> int:
    async with from_address(app, address) as client:
        response = await client.post(LOGIN, json={"username": username, "password": password})
        return response.status_code


class TestLoginLimits:
    async def test_guesses_spread_over_a_64_do_not_lock_the_owner_out(
        self, auth_app, auth_client: httpx.AsyncClient, user
    ):
        statuses = [
            await login_from(auth_app, in_the_64(i), "alice", f"guess{i}") for i in range(50)
        ]
        print(f"\n50 guesses from 50 addresses of one /64: {statuses.count(401)} got 401")
        assert statuses.count(401) == 5
        assert statuses.count(429) == 45
        # SECURITY.md's promise: the owner, elsewhere, still logs in and changes the password.
        assert await login_from(auth_app, "198.51.100.20", "alice", PASSWORD) == 200
        tokens = await auth_client.post(LOGIN, json={"username": "alice", "password": PASSWORD})
        changed = await auth_client.post(
            "/api/v1/auth/password",
            json={"current_password": PASSWORD, "new_password": "other-oboe-2026"},
            headers=bearer(tokens.json()),
        )
        assert changed.status_code == 204

    async def test_many_identifiers_from_one_64_meet_the_client_limit(self, make_settings):
        from tessera_auth.app import create_app

        app = create_app(make_settings(login_max_failures_per_client=3))
        async with running(app):
            statuses = [
                await login_from(app, in_the_64(i), f"nobody{i}", "wrong") for i in range(4)
            ]
            assert statuses == [401, 401, 401, 429]
            # Another /64 is another client.
            assert await login_from(app, "2001:db8:5:8::1", "nobody9", "wrong") == 401

    async def test_an_ipv4_mapped_address_is_its_ipv4_address(self, auth_app, auth_client, user):
        for _ in range(5):
            assert await login_from(auth_app, "::ffff:203.0.113.7", "alice", "wrong") == 401
        assert await login_from(auth_app, "203.0.113.7", "alice", PASSWORD) == 429

    async def test_the_prefix_is_a_setting(self, make_settings):
        from tessera_auth.app import create_app

        app = create_app(make_settings(ipv6_client_prefix=128, login_max_failures_per_client=2))
        async with running(app):
            statuses = [await login_from(app, in_the_64(i), f"x{i}", "wrong") for i in range(3)]
            assert statuses == [401, 401, 401]


class TestMailRequestLimits:
    @pytest.fixture
    def auth_app(self, make_settings):
        return built_auth_app(
            make_settings(mail_requests_per_client=2, password_forgot_min_seconds=0)
        )

    async def test_forgot_password_counts_a_64_as_one_client(self, auth_app, auth_client):
        statuses = []
        for i in range(3):
            async with from_address(auth_app, in_the_64(i)) as client:
                response = await client.post(FORGOT, json={"email": f"someone{i}@example.com"})
                statuses.append(response.status_code)
        assert statuses == [202, 202, 429]
