"""Faults: Redis down, PostgreSQL restart, Redis flush. Each test leaves the stack healthy."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
from redis import Redis

from tests.e2e.stack import Stack

pytestmark = pytest.mark.e2e
PASSWORD = "quartz-lantern-1987"


def signed_in(client: httpx.Client) -> dict:
    username = f"fault{uuid.uuid4().hex[:10]}"
    assert (
        client.post(
            "/api/v1/auth/register",
            json={
                "username": username,
                "email": f"{username}@example.com",
                "password": PASSWORD,
            },
        ).status_code
        == 201
    )
    response = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return response.json()


def eventually_status(call, status: int, timeout: float = 30.0) -> int:
    deadline = time.monotonic() + timeout
    while True:
        try:
            got = call().status_code
        except httpx.HTTPError:
            got = -1
        if got == status or time.monotonic() > deadline:
            return got
        time.sleep(0.2)


def services(stack: Stack) -> list[str]:
    return [stack.auth.url, stack.users.url]


class TestRedisDown:
    def test_token_requests_fail_closed_and_recover(
        self, stack: Stack, gateway_client: httpx.Client
    ):
        tokens = signed_in(gateway_client)
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        token_paths = ["/api/v1/auth/verify", "/api/v1/users/me"]
        stack.backends.redis.stop()
        try:
            for path in token_paths:
                assert gateway_client.get(path, headers=headers).status_code == 503
            for url in services(stack):
                ready = httpx.get(f"{url}/readyz", timeout=10)
                assert ready.status_code == 503
                assert ready.json()["checks"]["redis"] == "failing"
                assert (
                    httpx.get(f"{url}/healthz").status_code == 200
                )  # liveness has no dependencies
        finally:
            stack.backends.redis.start()
        for url in services(stack):
            assert (
                eventually_status(lambda url=url: httpx.get(f"{url}/readyz", timeout=10), 200)
                == 200
            )
        for path in token_paths:
            assert (
                eventually_status(lambda path=path: gateway_client.get(path, headers=headers), 200)
                == 200
            )


class TestPostgresRestart:
    def test_services_recover_by_themselves(self, stack: Stack, gateway_client: httpx.Client):
        stack.backends.postgres.restart()
        for url in services(stack):
            assert (
                eventually_status(lambda url=url: httpx.get(f"{url}/readyz", timeout=10), 200)
                == 200
            )
        tokens = signed_in(gateway_client)  # writes and reads PostgreSQL again
        assert tokens["access_token"]


class TestRedisFlush:
    def test_a_token_revoked_before_the_flush_stays_revoked(
        self, stack: Stack, gateway_client: httpx.Client
    ):
        tokens = signed_in(gateway_client)
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        assert (
            gateway_client.post(
                "/api/v1/auth/logout",
                headers=headers,
                json={"refresh_token": tokens["refresh_token"]},
            ).status_code
            == 204
        )
        redis = Redis.from_url(stack.backends.redis_url)
        try:
            redis.flushall()
        finally:
            redis.close()
        paths = ["/api/v1/auth/verify", "/api/v1/users/me"]
        for path in paths:
            assert gateway_client.get(path, headers=headers).status_code == 401, path
        fresh = signed_in(gateway_client)
        assert (
            gateway_client.get(
                "/api/v1/auth/verify", headers={"Authorization": f"Bearer {fresh['access_token']}"}
            ).status_code
            == 200
        )
