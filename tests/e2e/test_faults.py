"""Faults with traffic running through them: PostgreSQL restarted, Redis stopped and started
empty, a revocation key lost, Redis down during a logout, the auth process killed, Redis
flushed under two replicas of each service. Every response during a fault is recorded;
each test leaves the stack healthy."""

from __future__ import annotations

import itertools
import json
import os
import signal
import time
import uuid
from pathlib import Path

import httpx
import pytest
from redis import Redis

from tessera_core.revocation import jti_key, sid_key
from tests.e2e.accounts import PASSWORD, log_in, logged_out, register, signed_in
from tests.e2e.stack import (
    RESYNC_SECONDS,
    Service,
    Stack,
    replicated,
    run_sql,
    wait_http,
)
from tests.e2e.traffic import Traffic
from tests.fixtures.apps import bearer
from tests.fixtures.jwt import unverified

pytestmark = pytest.mark.e2e
TOKEN_PATHS = ("/api/v1/auth/verify", "/api/v1/users/me")


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


def token_calls(**tokens: dict) -> dict:
    """One traffic call per (token, path): ``revoked_me`` sends ``revoked`` to /users/me."""
    calls = {}
    for name, pair in tokens.items():
        for path in TOKEN_PATHS:
            label = f"{name}_{path.rsplit('/', 1)[-1]}"
            calls[label] = lambda c, path=path, h=bearer(pair): c.get(path, headers=h)
    return calls


def assert_never_accepted(traffic: Traffic, name: str) -> None:
    for path in TOKEN_PATHS:
        label = f"{name}_{path.rsplit('/', 1)[-1]}"
        assert traffic.of(label), f"no {label} request was sent"
        assert 200 not in traffic.statuses(label), f"{label}: {traffic.report()}"


class TestRedisDown:
    def test_token_requests_fail_closed_and_recover(
        self, stack: Stack, gateway_client: httpx.Client
    ):
        tokens = signed_in(gateway_client)
        headers = bearer(tokens)
        stack.backends.redis.stop()
        try:
            for path in TOKEN_PATHS:
                assert gateway_client.get(path, headers=headers).status_code == 503
            for url in services(stack):
                ready = httpx.get(f"{url}/readyz", timeout=10)
                assert ready.status_code == 503
                assert ready.json()["checks"]["redis"] == "failing"
                assert httpx.get(f"{url}/healthz").status_code == 200  # no dependencies
        finally:
            stack.backends.redis.start()
        for url in services(stack):
            assert (
                eventually_status(lambda url=url: httpx.get(f"{url}/readyz", timeout=10), 200)
                == 200
            )
        for path in TOKEN_PATHS:
            assert (
                eventually_status(lambda path=path: gateway_client.get(path, headers=headers), 200)
                == 200
            )

    def test_stopped_then_started_empty_under_traffic(
        self, stack: Stack, gateway_client: httpx.Client
    ):
        """No token revoked before the fault is accepted afterwards, by either service, in
        any request; live tokens work again without a restart."""
        revoked, live = logged_out(gateway_client), signed_in(gateway_client)
        with Traffic(stack.gateway.url, token_calls(revoked=revoked, live=live)) as traffic:
            time.sleep(0.5)
            stack.backends.redis.stop()
            time.sleep(2)
            stack.backends.redis.start()  # no persistence: it comes back empty
            for path in TOKEN_PATHS:
                assert (
                    eventually_status(
                        lambda path=path: gateway_client.get(path, headers=bearer(live)), 200
                    )
                    == 200
                )
            time.sleep(1)
        print(f"Redis stopped, started empty: {traffic.report()}")
        assert_never_accepted(traffic, "revoked")
        assert set(traffic.statuses()) <= {200, 401, 503}
        assert traffic.statuses("live_me")[503] > 0, "the outage was not seen"

    def test_down_during_logout(self, stack: Stack, gateway_client: httpx.Client):
        """The logout answers 204 with Redis down (PostgreSQL has it); once Redis is back,
        the access token is refused by both services."""
        tokens = signed_in(gateway_client)
        stack.backends.redis.stop()
        try:
            started = time.monotonic()
            response = gateway_client.post(
                "/api/v1/auth/logout",
                headers=bearer(tokens),
                json={"refresh_token": tokens["refresh_token"]},
            )
            took = time.monotonic() - started
            assert response.status_code == 204, response.text
            assert took < 5
            for path in TOKEN_PATHS:
                assert gateway_client.get(path, headers=bearer(tokens)).status_code == 503
        finally:
            stack.backends.redis.start()
        assert_refused_once_redis_is_back(gateway_client, tokens)
        print(f"logout with Redis down: 204 in {took:.2f}s; token refused by both once back")

    def test_every_revocation_answers_while_redis_is_down(
        self, stack: Stack, gateway_client: httpx.Client
    ):
        """Logout-all, a password change, a session delete and an admin's deactivation
        commit to PostgreSQL and answer 204 with Redis down (their Bearer tokens checked in
        PostgreSQL); what they revoked stays revoked once Redis is back."""
        everywhere = register(gateway_client)
        all_1, all_2 = log_in(gateway_client, everywhere), log_in(gateway_client, everywhere)
        changer = register(gateway_client)
        changing, changed = log_in(gateway_client, changer), log_in(gateway_client, changer)
        ender = register(gateway_client)
        ending, ended = log_in(gateway_client, ender), log_in(gateway_client, ender)
        victim = signed_in(gateway_client)
        victim_id = unverified(victim["access_token"])[1]["sub"]
        admin = register(gateway_client)
        run_sql(stack, 'UPDATE "user" SET is_admin = true WHERE username = :u', u=admin)
        admin_tokens = log_in(gateway_client, admin)
        stack.backends.redis.stop()
        try:
            answers = {
                "logout-all": gateway_client.post("/api/v1/auth/logout-all", headers=bearer(all_1)),
                "password": gateway_client.post(
                    "/api/v1/auth/password",
                    headers=bearer(changing),
                    json={"current_password": PASSWORD, "new_password": f"{PASSWORD}-new"},
                ),
                "session delete": gateway_client.delete(
                    f"/api/v1/auth/sessions/{unverified(ended['access_token'])[1]['sid']}",
                    headers=bearer(ending),
                ),
                "deactivate": gateway_client.delete(
                    f"/api/v1/users/{victim_id}", headers=bearer(admin_tokens)
                ),
            }
        finally:
            stack.backends.redis.start()
        statuses = {name: response.status_code for name, response in answers.items()}
        print(f"with Redis down: {statuses}")
        assert statuses == dict.fromkeys(answers, 204), {k: v.text for k, v in answers.items()}
        for tokens in (all_1, all_2, changed, ended, victim):
            assert_refused_once_redis_is_back(gateway_client, tokens)
        for tokens in (changing, ending):  # the sessions that did it live on
            for path in TOKEN_PATHS:
                assert gateway_client.get(path, headers=bearer(tokens)).status_code == 200


def assert_refused_once_redis_is_back(client: httpx.Client, tokens: dict) -> None:
    for path in TOKEN_PATHS:
        last = eventually_status(lambda path=path: client.get(path, headers=bearer(tokens)), 401)
        assert last == 401, path


class TestPostgresRestart:
    def test_only_503s_none_slow_and_recovery_without_a_restart(
        self, stack: Stack, gateway_client: httpx.Client
    ):
        live = signed_in(gateway_client)
        calls = {
            "me": lambda c: c.get("/api/v1/users/me", headers=bearer(live)),
            "register": lambda c: c.post(
                "/api/v1/auth/register",
                json={
                    "username": f"pg{uuid.uuid4().hex[:12]}",
                    "email": f"pg{uuid.uuid4().hex[:12]}@example.com",
                    "password": PASSWORD,
                },
            ),
            "sessions": lambda c: c.get("/api/v1/auth/sessions", headers=bearer(live)),
        }
        with Traffic(stack.gateway.url, calls) as traffic:
            time.sleep(0.5)
            stack.backends.postgres.restart()
            for url in services(stack):
                assert (
                    eventually_status(lambda url=url: httpx.get(f"{url}/readyz", timeout=10), 200)
                    == 200
                )
            restarted = time.monotonic()
            time.sleep(1.5)
        print(f"PostgreSQL restarted: {traffic.report()}")
        assert set(traffic.statuses()) <= {200, 201, 503}, traffic.report()
        assert traffic.worst_seconds() < 5, traffic.report()
        for label in calls:
            after = [(s.status, s.code) for s in traffic.of(label) if s.sent > restarted]
            assert after, label
            assert {status for status, _ in after} <= {200, 201}, (label, after)
        assert signed_in(gateway_client)["access_token"]
        # Nothing above refreshed, so every connection of auth's refresh pool died idle in
        # the restart: more refreshes than that pool holds, each must find a live one.
        pair = live
        for _ in range(12):
            refreshed = gateway_client.post(
                "/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}
            )
            assert refreshed.status_code == 200, refreshed.text
            pair = refreshed.json()


class TestRedisLosesData:
    def test_a_revocation_key_deleted_by_hand_is_refused_again_within_the_interval(
        self, stack: Stack, gateway_client: httpx.Client
    ):
        revoked = logged_out(gateway_client)
        _, claims = unverified(revoked["access_token"])
        redis = Redis.from_url(stack.backends.redis_url)
        try:
            deleted = redis.delete(
                sid_key(claims["sid"], claims["sub"]),
                jti_key(claims["iss"], claims["jti"], claims["sub"]),
            )
        finally:
            redis.close()
        assert deleted == 2
        lost_at = time.monotonic()
        refused_at: dict[str, float] = {}
        while len(refused_at) < len(TOKEN_PATHS):
            for path in TOKEN_PATHS:
                if path not in refused_at:
                    response = gateway_client.get(path, headers=bearer(revoked))
                    if response.status_code == 401:
                        refused_at[path] = time.monotonic() - lost_at
            assert time.monotonic() - lost_at < RESYNC_SECONDS + 2, refused_at
            time.sleep(0.1)
        print(f"key deleted by hand: refused again after {refused_at} (interval {RESYNC_SECONDS}s)")

    def test_flush_under_two_replicas_of_each_service(self, stack: Stack, tmp_path: Path):
        """Two replicas of each service behind their own gateway: after a flush under
        traffic, no revoked token passes, and the rebuilds run one at a time."""
        with replicated(stack, tmp_path, "-2") as replicas:
            self._flush_under_traffic(stack, replicas.services, replicas.gateway.url)

    @staticmethod
    def _flush_under_traffic(stack: Stack, replicas: list[Service], gateway_url: str) -> None:
        logs_before = {s.proc.log_path: len(s.proc.log()) for s in replicas}
        with httpx.Client(base_url=gateway_url, timeout=30) as client:
            revoked, live = logged_out(client), signed_in(client)
            with Traffic(gateway_url, token_calls(revoked=revoked, live=live)) as traffic:
                time.sleep(0.5)
                redis = Redis.from_url(stack.backends.redis_url)
                try:
                    redis.flushall()
                finally:
                    redis.close()
                time.sleep(2)
        print(f"flush under two replicas: {traffic.report()}")
        assert_never_accepted(traffic, "revoked")
        assert traffic.statuses("live_me")[200] > 0
        spans = sorted(
            span
            for path, offset in logs_before.items()
            for span in resync_events(Path(path).read_text()[offset:])
        )
        print(f"resyncs after the flush: {spans}")
        assert spans, "no replica rebuilt the fast path"
        for (_, first_end), (second_start, _) in itertools.pairwise(spans):
            assert second_start >= first_end, f"two rebuilds at once: {spans}"


def resync_events(log: str) -> list[tuple[str, str]]:
    """(started, completed) timestamps of each resync in one process's JSON log."""
    started: dict[int, str] = {}
    spans = []
    for line in log.splitlines():
        if "revocation_resync" not in line:
            continue
        event = json.loads(line)
        if event["event"] == "revocation_resync_started":
            started[event["resync"]] = event["timestamp"]
        elif event["event"] == "revocation_resync_completed" and event["resync"] in started:
            spans.append((started.pop(event["resync"]), event["timestamp"]))
    return spans


class TestAuthKilled:
    def test_users_keeps_validating_with_cached_keys(
        self, stack: Stack, gateway_client: httpx.Client
    ):
        tokens = signed_in(gateway_client)
        me = f"{stack.users.url}/api/v1/users/me"
        assert httpx.get(me, headers=bearer(tokens)).status_code == 200
        os.killpg(stack.auth.proc.pid, signal.SIGKILL)
        stack.auth.proc.wait(10)
        try:
            statuses = [httpx.get(me, headers=bearer(tokens)).status_code for _ in range(20)]
            print(f"auth killed: users answered {statuses.count(200)}/20 with 200")
            assert statuses == [200] * 20
        finally:
            stack.auth.proc.start()
            wait_http(f"{stack.auth.url}/readyz", proc=stack.auth.proc)
        assert gateway_client.get("/api/v1/auth/verify", headers=bearer(tokens)).status_code == 200
