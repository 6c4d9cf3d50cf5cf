"""Session-scoped e2e stack: started once, shared by every e2e test (faults restore it)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from selenium.webdriver import Chrome

from tests.e2e.browser import start_chromium
from tests.e2e.stack import (
    Backends,
    Stack,
    base_env,
    compose_command,
    service_env,
    start_gateway,
    start_prometheus,
    start_service,
)
from tests.fixtures.servers import IN_CI, LocalPostgres, LocalRedis, ServerUnavailable, free_port
from tests.fixtures.smtp import SmtpServer


def _unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def e2e_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="session")
def backends(e2e_dir: Path) -> Iterator[Backends]:
    """Own PostgreSQL and Redis (restartable for the fault tests), migrated and keyed with
    the very commands docker-compose.yml runs."""
    try:
        postgres = LocalPostgres().start()
    except ServerUnavailable as exc:
        _unavailable(str(exc))
    try:
        redis = LocalRedis().start()
    except ServerUnavailable as exc:
        postgres.stop()
        _unavailable(str(exc))
    keys_dir = e2e_dir / "keys"
    keys_dir.mkdir()
    env = {**base_env(), "TESSERA_DATABASE_URL": postgres.url(), "TESSERA_KEYS_DIR": str(keys_dir)}
    try:
        for service in ("migrate", "keys", "keys"):  # keys twice: the second run keeps the key
            result = subprocess.run(
                compose_command(service), env=env, capture_output=True, text=True, timeout=120
            )
            assert result.returncode == 0, f"{service}: {result.stdout}\n{result.stderr}"
        assert len(list(keys_dir.glob("*.pem"))) == 1
        yield Backends(postgres.url(), redis.url(), keys_dir, postgres, redis)
    finally:
        redis.stop()
        postgres.stop()


@pytest.fixture(scope="session")
def stack(backends: Backends, e2e_dir: Path) -> Iterator[Stack]:
    auth_port, users_port = free_port(), free_port()
    smtp = SmtpServer(e2e_dir / "mail").start()
    gateway = start_gateway(e2e_dir, auth_port=auth_port, users_port=users_port)
    issuer = gateway.url
    auth = start_service(
        "auth",
        service_env(
            "auth",
            backends,
            issuer=issuer,
            auth_port=auth_port,
            smtp_port=smtp.port,
            webauthn_origin=gateway.browser_url,
        ),
        e2e_dir,
        port=auth_port,
        wait=False,
    )
    users = start_service(
        "users",
        service_env("users", backends, issuer=issuer, auth_port=auth_port),
        e2e_dir,
        port=users_port,
        wait=False,
    )
    prometheus = start_prometheus(e2e_dir, {"auth": auth_port, "users": users_port})
    built = Stack(backends, auth, users, gateway, prometheus, e2e_dir, smtp=smtp)
    try:
        from tests.e2e.stack import wait_http

        wait_http(f"{auth.url}/readyz", proc=auth.proc)
        wait_http(f"{users.url}/readyz", proc=users.proc)
        yield built
    finally:
        for proc in [*built.processes(), prometheus.proc]:
            proc.stop()
        smtp.stop()


@pytest.fixture
def gateway_client(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.gateway.url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def driver() -> Iterator[Chrome]:
    """One headless Chromium per test module (the console's, the account page's)."""
    browser = start_chromium()
    try:
        yield browser
    finally:
        browser.quit()
