"""Probes, metrics and graceful shutdown of `tessera serve` as a real process."""

from __future__ import annotations

import re
import signal
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path

import httpx
import pytest

from tests.e2e.stack import Stack, service_env, start_service

pytestmark = pytest.mark.e2e
PASSWORD = "quartz-lantern-1987"
SAMPLE = re.compile(r"^(?P<name>[a-z_]+)\{(?P<labels>[^}]*)\} (?P<value>[0-9.e+-]+)$", re.MULTILINE)


def samples(text: str, name: str, **labels: str) -> list[float]:
    found = []
    for match in SAMPLE.finditer(text):
        if match.group("name") != name:
            continue
        pairs = dict(re.findall(r'(\w+)="([^"]*)"', match.group("labels")))
        if all(pairs.get(k) == v for k, v in labels.items()):
            found.append(float(match.group("value")))
    return found


def register(base_url: str) -> str:
    username = f"probe{uuid.uuid4().hex[:10]}"
    response = httpx.post(
        f"{base_url}/api/v1/auth/register",
        json={
            "username": username,
            "email": f"{username}@example.com",
            "password": PASSWORD,
        },
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return username


def login(base_url: str, username: str) -> httpx.Response:
    return httpx.post(
        f"{base_url}/api/v1/auth/login",
        json={"username": username, "password": PASSWORD},
        timeout=60,
    )


class TestProbes:
    @pytest.mark.parametrize("service", ["auth", "users"])
    def test_healthz_and_readyz_report_each_check(self, stack: Stack, service: str):
        running = stack.auth if service == "auth" else stack.users
        assert httpx.get(f"{running.url}/healthz").json() == {"status": "ok"}
        ready = httpx.get(f"{running.url}/readyz")
        assert ready.status_code == 200
        checks = ready.json()["checks"]
        assert checks["database"] == "ok"
        assert checks["redis"] == "ok"
        assert checks["signing_keys" if service == "auth" else "jwks"] == "ok"


class TestMetrics:
    def test_route_templates_and_auth_counters(self, stack: Stack):
        username = register(stack.auth.url)
        tokens = login(stack.auth.url, username).json()
        bad = httpx.post(
            f"{stack.auth.url}/api/v1/auth/login", json={"username": username, "password": "x" * 12}
        )
        assert bad.status_code == 401
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        assert httpx.get(f"{stack.auth.url}/api/v1/auth/verify", headers=headers).status_code == 200
        session = uuid.uuid4()
        httpx.delete(f"{stack.auth.url}/api/v1/auth/sessions/{session}", headers=headers)
        text = httpx.get(f"{stack.auth.url}/metrics").text
        assert (
            samples(
                text,
                "http_requests_total",
                service="auth",
                route="/api/v1/auth/sessions/{session_id}",
            )
            or "/api/v1/auth/sessions/{" in text
        )
        assert str(session) not in text, "raw paths must not become labels"
        assert samples(text, "http_request_duration_seconds_bucket", route="/api/v1/auth/login")
        assert samples(text, "auth_logins_total", result="success")
        assert samples(text, "auth_tokens_issued_total")
        assert samples(text, "token_verifications_total")
        for counter in ("auth_tokens_revoked_total", "auth_refresh_reuse_detected_total"):
            assert (
                f"# TYPE {counter} counter" in text
                or f"# TYPE {counter.removesuffix('_total')} counter" in text
            )

    def test_two_workers_count_every_request_once(self, backends, tmp_path: Path, stack: Stack):
        env = service_env("auth", backends, issuer=stack.gateway.url, auth_port=0)
        env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "metrics")
        service = start_service("auth", env, tmp_path, workers=2, suffix="-2workers")
        try:
            requests = 60
            for _ in range(requests):
                # A new connection each time, so both workers get a share.
                assert (
                    httpx.get(f"{service.url}/healthz", headers={"Connection": "close"}).status_code
                    == 200
                )
            time.sleep(0.3)  # the counter is bumped just after the response is sent
            for _ in range(6):
                text = httpx.get(f"{service.url}/metrics", headers={"Connection": "close"}).text
                assert sum(samples(text, "http_requests_total", route="/healthz")) == requests
            pids = {p.stem.rsplit("_", 1)[-1] for p in (tmp_path / "metrics").glob("counter_*.db")}
            assert len(pids) >= 2, f"both workers should have served: {pids}"
        finally:
            service.proc.stop()


def wait_for_status(url: str, status: int, timeout: float) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.get(url, timeout=5)
        if response.status_code == status or time.monotonic() > deadline:
            return response
        time.sleep(0.05)


def exit_code_after_sigterm(workers: int) -> int:
    """A lone uvicorn server re-raises the SIGTERM it handled once it has drained, so the
    process ends "killed by SIGTERM"; the supervisor of several workers returns, status 0."""
    return -signal.SIGTERM if workers == 1 else 0


class TestGracefulShutdown:
    @pytest.mark.parametrize("workers", [1, 2])
    def test_sigterm_turns_readiness_off_and_finishes_in_flight_requests(
        self, backends, tmp_path: Path, stack: Stack, workers: int
    ):
        env = service_env("auth", backends, issuer=stack.gateway.url, auth_port=0)
        env["TESSERA_SHUTDOWN_DELAY_SECONDS"] = "3"
        service = start_service("auth", env, tmp_path, workers=workers, suffix=f"-drain{workers}")
        try:
            exit_code = self._drain(service)
        finally:
            service.proc.stop()
        assert exit_code == exit_code_after_sigterm(workers)

    @staticmethod
    def _drain(service) -> int:
        username = register(service.url)
        with ThreadPoolExecutor(8) as pool:
            logins = [pool.submit(login, service.url, username) for _ in range(8)]
            time.sleep(0.05)
            service.proc.signal(signal.SIGTERM)
            # uvicorn's supervisor passes the signal on to its workers within 0.5 s.
            ready = wait_for_status(f"{service.url}/readyz", 503, timeout=2.5)
            assert ready.status_code == 503
            assert ready.json()["checks"]["shutdown"] == "draining"
            assert httpx.get(f"{service.url}/healthz", timeout=5).status_code == 200
            assert [f.result().status_code for f in logins] == [200] * 8
        return service.proc.exit_status(30)

    def test_requests_in_flight_when_the_listener_closes_still_finish(
        self, backends, tmp_path: Path, stack: Stack
    ):
        env = service_env("auth", backends, issuer=stack.gateway.url, auth_port=0)
        env["TESSERA_SHUTDOWN_DELAY_SECONDS"] = "0"
        # Logins must last long enough to be in flight at SIGTERM: the production cost.
        env["TESSERA_PASSWORD_HASH_MEMORY_KIB"] = str(19 * 1024)
        env["TESSERA_PASSWORD_HASH_TIME_COST"] = "2"
        service = start_service("auth", env, tmp_path, suffix="-inflight")
        username = register(service.url)
        clients = [httpx.Client(base_url=service.url, timeout=60) for _ in range(12)]

        def timed_login(client: httpx.Client) -> tuple[int, float]:
            response = client.post(
                "/api/v1/auth/login", json={"username": username, "password": PASSWORD}
            )
            return response.status_code, time.monotonic()

        try:
            # Each client's connection accepted first: a connection still in the listener's
            # backlog when it closes is reset by the kernel, and was never in flight (a CI
            # run on a loaded machine lost one login so).
            for client in clients:
                assert client.get("/healthz").status_code == 200
            with ThreadPoolExecutor(len(clients)) as pool:
                logins = [pool.submit(timed_login, client) for client in clients]
                # Once one login is answered the others, sent at the same moment, are being
                # worked on (argon2 runs two at a time): stop the server now.
                wait(logins, return_when=FIRST_COMPLETED)
                signalled = time.monotonic()
                service.proc.signal(signal.SIGTERM)
                results = [f.result() for f in logins]
        except BaseException:
            service.proc.stop()
            raise
        finally:
            for client in clients:
                client.close()
        exit_code = service.proc.exit_status(30)
        assert [status for status, _ in results] == [200] * len(clients)
        assert any(done > signalled for _, done in results), "no request was in flight at SIGTERM"
        assert exit_code == exit_code_after_sigterm(workers=1)
