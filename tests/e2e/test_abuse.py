"""Attacks tried against the running stack: forged client addresses, through the real nginx
and around it, and concurrent password guessing counted at the hash."""

from __future__ import annotations

import asyncio
import base64
import re
import uuid

import httpx
import pytest
import redis

from tests.e2e.stack import Stack
from tests.fixtures.apps import PASSWORD

pytestmark = pytest.mark.e2e

LOGIN = "/api/v1/auth/login"
FORGED = "203.0.113.66"
# The services trust 127.0.0.1 (the gateway's address) only; Linux answers on all of
# 127.0.0.0/8, so these are clients the services do not trust.
ATTACKER = "127.0.0.3"
OWNER = "127.0.0.4"


def client_from(address: str, base_url: str) -> httpx.Client:
    return httpx.Client(
        base_url=base_url, transport=httpx.HTTPTransport(local_address=address), timeout=30
    )


def register(client: httpx.Client) -> str:
    username = f"u{uuid.uuid4().hex[:10]}"
    body = {"username": username, "email": f"{username}@example.com", "password": PASSWORD}
    assert client.post("/api/v1/auth/register", json=body).status_code == 201
    return username


def session_ips(client: httpx.Client, username: str, headers: dict[str, str]) -> list[str]:
    response = client.post(
        LOGIN, json={"username": username, "password": PASSWORD}, headers=headers
    )
    assert response.status_code == 200, response.text
    bearer = {"Authorization": f"Bearer {response.json()['access_token']}"}
    return [s["ip"] for s in client.get("/api/v1/auth/sessions", headers=bearer).json()]


def client_counters(stack: Stack) -> set[str]:
    r = redis.Redis.from_url(stack.backends.redis_url, decode_responses=True)
    try:
        keys = r.keys("tessera:login-failures:client:*:failed")
        return {str(k).split("{", 1)[1].split("}", 1)[0] for k in keys}
    finally:
        r.close()


def password_checks(stack: Stack) -> float:
    text = httpx.get(f"{stack.auth.url}/metrics", timeout=10).text
    match = re.search(r"^password_checks_total (\S+)$", text, re.MULTILINE)
    assert match, "password_checks_total is not exported"
    return float(match.group(1))


class TestForgedForwardedFor:
    @pytest.mark.parametrize("route", ["gateway", "direct"])
    def test_moves_neither_the_session_address_nor_the_limiter_key(self, stack: Stack, route: str):
        base = stack.gateway.url if route == "gateway" else stack.auth.url
        with client_from(ATTACKER, base) as client:
            username = register(client)
            forged = {"X-Forwarded-For": f"{FORGED}, 198.51.100.1"}
            assert session_ips(client, username, forged) == [ATTACKER]
            wrong = client.post(
                LOGIN, json={"username": username, "password": "wrong"}, headers=forged
            )
            assert wrong.status_code == 401
        counters = client_counters(stack)
        assert ATTACKER in counters
        assert not {FORGED, "198.51.100.1"} & counters

    def test_a_trusted_proxy_is_believed_right_most_first(self, stack: Stack):
        """From the trusted address (where the gateway connects from) an appended chain is
        read from the right: the left-most entry is whatever the client wrote."""
        with httpx.Client(base_url=stack.auth.url, timeout=30) as proxy:
            username = register(proxy)
            chain = {"X-Forwarded-For": f"{FORGED}, 198.51.100.7"}
            assert session_ips(proxy, username, chain) == ["198.51.100.7"]


class TestConcurrentGuessing:
    def test_fifty_guesses_at_once_reach_the_hash_at_most_five_times(self, stack: Stack):
        with client_from(ATTACKER, stack.gateway.url) as client:
            username = register(client)
        before = password_checks(stack)

        async def guess_all() -> list[int]:
            transport = httpx.AsyncHTTPTransport(local_address=ATTACKER)
            limits = httpx.Limits(max_connections=50)
            async with httpx.AsyncClient(
                base_url=stack.gateway.url, transport=transport, limits=limits, timeout=60
            ) as guesser:
                responses = await asyncio.gather(
                    *(
                        guesser.post(LOGIN, json={"username": username, "password": f"guess{i}"})
                        for i in range(50)
                    )
                )
            return [r.status_code for r in responses]

        statuses = asyncio.run(guess_all())
        checked = password_checks(stack) - before
        print(f"\n50 concurrent guesses through the gateway: {checked:.0f} reached the hash")
        assert checked <= 5
        assert statuses.count(401) <= 5
        assert statuses.count(429) >= 45
        # The owner, elsewhere, is not locked out by the stranger.
        with client_from(OWNER, stack.gateway.url) as owner:
            response = owner.post(LOGIN, json={"username": username, "password": PASSWORD})
            assert response.status_code == 200


# A JOSE header of `[` nested 5,000 deep (the JSON parser runs out of recursion on it).
NESTED_HEADER = base64.urlsafe_b64encode(b"[" * 5000).rstrip(b"=").decode()
NESTED_HEADER_TOKEN = f"{NESTED_HEADER}.eyJzdWIiOiAieCJ9.c2ln"


class TestCraftedTokens:
    @pytest.mark.parametrize(
        "path",
        [
            "/api/v1/auth/verify",  # what the gateway's forward-auth asks for every backend
            "/api/v1/auth/sessions",
            "/api/v1/users/me",
            "/api/v1/users",
            "/api/v1/users/46ada1d0-a4d9-4f03-aa35-8d390827679a",
        ],
    )
    def test_a_nested_header_is_401_through_the_gateway(self, stack: Stack, path: str):
        before = stack.all_logs().count("Traceback")
        with client_from(ATTACKER, stack.gateway.url) as client:
            response = client.get(path, headers={"Authorization": f"Bearer {NESTED_HEADER_TOKEN}"})
        assert response.status_code == 401, response.text[:300]
        assert response.json()["code"] == "invalid_token"
        assert stack.all_logs().count("Traceback") == before


class TestIPv6Clients:
    def test_guesses_spread_over_a_64_do_not_lock_the_owner_out(self, stack: Stack):
        """The gateway here listens on IPv4 loopback only, so the /64 arrives as it would
        behind a trusted edge: from the proxy address the services trust (127.0.0.1),
        each guess naming another address of one /64 in X-Forwarded-For."""
        with client_from(OWNER, stack.gateway.url) as owner:
            username = register(owner)
        statuses = []
        with httpx.Client(base_url=stack.auth.url, timeout=30) as edge:
            for i in range(50):
                forwarded = {"X-Forwarded-For": f"2001:db8:77:1:{i:x}::{i + 1:x}"}
                response = edge.post(
                    LOGIN, json={"username": username, "password": f"guess{i}"}, headers=forwarded
                )
                statuses.append(response.status_code)
        print(
            f"\n50 guesses from one /64 through uvicorn's proxy headers: {statuses.count(401)} 401s"
        )
        assert statuses.count(401) == 5
        assert statuses.count(429) == 45
        assert "2001:db8:77:1::/64" in client_counters(stack)
        with client_from(OWNER, stack.gateway.url) as owner:
            response = owner.post(LOGIN, json={"username": username, "password": PASSWORD})
            assert response.status_code == 200


class TestRecoveryLockout:
    def test_a_strangers_forgot_requests_do_not_refuse_the_owners(self, stack: Stack):
        with client_from(OWNER, stack.gateway.url) as owner:
            email = f"{register(owner)}@example.com"
        with client_from(ATTACKER, stack.gateway.url) as stranger:
            statuses = [
                stranger.post("/api/v1/auth/password/forgot", json={"email": email}).status_code
                for _ in range(4)
            ]
        assert statuses == [202, 202, 202, 429]
        with client_from(OWNER, stack.gateway.url) as owner:
            response = owner.post("/api/v1/auth/password/forgot", json={"email": email})
            assert response.status_code == 202
