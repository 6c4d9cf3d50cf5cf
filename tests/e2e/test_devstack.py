"""`make dev` (= `tessera-dev`): starts everything, serves a login through its gateway,
stops every child on SIGINT, and refuses to start outside dev. And the Python dev router
used when nginx is missing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.e2e.accounts import PASSWORD
from tests.e2e.stack import (
    BIN_DIR,
    GATEWAY_TEMPLATE,
    Proc,
    Stack,
    base_env,
    require_binary,
    start_dev,
    wait_http,
)
from tests.fixtures.servers import free_port, wait_for_port

pytestmark = pytest.mark.e2e


class TestMakeDev:
    def test_starts_serves_a_login_and_stops_cleanly_on_sigint(self, tmp_path: Path):
        require_binary("nginx")
        run = start_dev(tmp_path, timeout=120)
        launcher, ports, admin = run.launcher, run.ports, run.admin
        try:
            assert admin["password"] in launcher.log(), "a generated admin password is printed once"
            login = httpx.post(
                f"{run.gateway}/api/v1/auth/login",
                json={"username": admin["username"], "password": admin["password"]},
                timeout=30,
            )
            assert login.status_code == 200, login.text
            assert login.json()["token_type"] == "Bearer"
            self._caught_mail_is_shown(run.gateway)
            for service in ("auth", "users"):
                ready = httpx.get(f"http://127.0.0.1:{ports[service]}/readyz", timeout=10)
                assert ready.status_code == 200, (service, ready.text)
            children = psutil.Process(launcher.pid).children(recursive=True)
            assert len(children) >= 4  # redis, auth, users, nginx (and their workers)

            launcher.signal(signal.SIGINT)
            assert launcher.wait(60) == 0, launcher.log()
            _gone, alive = psutil.wait_procs(children, timeout=10)
            assert not alive, f"left running: {[p.cmdline() for p in alive]}"
            assert not (tmp_path / ".dev" / "pgdata" / "postmaster.pid").exists(), (
                "PostgreSQL still running"
            )
            assert "stopped" in launcher.log()
        finally:
            if launcher.alive():
                launcher.signal(signal.SIGTERM)
                launcher.wait(60)

    @staticmethod
    def _caught_mail_is_shown(gateway: str) -> None:
        """A registration's verification mail reaches the dev SMTP catcher and is listed
        at /api/v1/auth/dev/mail through the gateway."""
        body = {"username": "devmail", "email": "devmail@example.com", "password": PASSWORD}
        registered = httpx.post(f"{gateway}/api/v1/auth/register", json=body, timeout=30)
        assert registered.status_code == 201, registered.text
        deadline = time.monotonic() + 30
        subjects: list[str] = []
        while time.monotonic() < deadline and not subjects:
            listed = httpx.get(f"{gateway}/api/v1/auth/dev/mail?format=json", timeout=10)
            assert listed.status_code == 200, listed.text
            subjects = [m["subject"] for m in listed.json() if m["to"] == body["email"]]
            time.sleep(0.2)
        assert subjects == ["Confirm your email address"]


class TestOutsideDev:
    def test_refuses_to_start(self, tmp_path: Path):
        result = subprocess.run(
            [str(BIN_DIR / "tessera-dev")],
            env={**os.environ, "TESSERA_ENV": "production", "TESSERA_DEV_DIR": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2
        assert "refusing to run: TESSERA_ENV=production" in result.stderr
        assert not any(tmp_path.iterdir()), "nothing may be started or written"


class TestPythonDevRouter:
    def test_routes_like_the_nginx_template(self, stack: Stack, tmp_path: Path):
        port = free_port()
        router = Proc(
            "router",
            [
                sys.executable,
                "-m",
                "tessera_devstack.router",
                "--port",
                str(port),
                "--template",
                str(GATEWAY_TEMPLATE),
                "--auth",
                f"127.0.0.1:{stack.auth.port}",
                "--users",
                f"127.0.0.1:{stack.users.port}",
            ],
            base_env(),
            tmp_path / "router.log",
        ).start()
        try:
            wait_for_port(port, timeout=30)
            base = f"http://127.0.0.1:{port}"
            wait_http(f"{base}/", proc=router)
            assert httpx.get(f"{base}/.well-known/jwks.json").json()["keys"]
            assert httpx.get(f"{base}/api/v1/users/me").status_code == 401
            for path in ("/healthz", "/readyz", "/metrics", "/elsewhere"):
                assert httpx.get(f"{base}{path}").status_code == 404, path
            echoed = httpx.get(
                f"{base}/api/v1/auth/docs", headers={"X-Request-ID": "router-test-1"}
            )
            assert echoed.status_code == 200
            assert echoed.headers["x-request-id"] == "router-test-1"
            # The router has the whole body already: a service's "100 Continue" must not
            # come back as the answer.
            login = httpx.post(
                f"{base}/api/v1/auth/login",
                json={"username": "nobody-here", "password": "wrong-password-1"},
                headers={"Expect": "100-continue"},
            )
            assert login.status_code == 401, login.text
        finally:
            router.stop()
