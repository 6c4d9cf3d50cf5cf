"""`make dev` (= `tessera dev`): starts everything, serves a login through its gateway,
stops every child on SIGINT. And the Python dev router used when nginx is missing."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from tests.e2e.stack import (
    BIN_DIR,
    GATEWAY_TEMPLATE,
    Proc,
    Stack,
    base_env,
    require_binary,
    wait_http,
)
from tests.fixtures.servers import free_port, wait_for_port

pytestmark = pytest.mark.e2e


def admin_from(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


class TestMakeDev:
    def test_starts_serves_a_login_and_stops_cleanly_on_sigint(self, tmp_path: Path):
        require_binary("nginx")
        ports = {name: free_port() for name in ("gateway", "auth", "users")}
        env = {
            **base_env(),
            "TESSERA_DEV_DIR": str(tmp_path / ".dev"),
            "TESSERA_DEV_GATEWAY_PORT": str(ports["gateway"]),
            "TESSERA_DEV_AUTH_PORT": str(ports["auth"]),
            "TESSERA_DEV_USERS_PORT": str(ports["users"]),
        }
        launcher = Proc(
            "tessera-dev", [str(BIN_DIR / "tessera"), "dev"], env, tmp_path / "dev.log"
        ).start()
        try:
            deadline = time.monotonic() + 120
            while "ready." not in launcher.log():
                assert launcher.alive(), launcher.log()
                assert time.monotonic() < deadline, launcher.log()
                time.sleep(0.2)
            output = launcher.log()
            admin = admin_from(tmp_path / ".dev" / "admin.txt")
            assert admin["password"] in output, "a generated admin password is printed once"
            gateway = f"http://127.0.0.1:{ports['gateway']}"
            login = httpx.post(
                f"{gateway}/api/v1/auth/login",
                json={"username": admin["username"], "password": admin["password"]},
                timeout=30,
            )
            assert login.status_code == 200, login.text
            assert login.json()["token_type"] == "Bearer"
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


class TestPythonDevRouter:
    def test_routes_like_the_nginx_template(self, stack: Stack, tmp_path: Path):
        port = free_port()
        router = Proc(
            "router",
            [
                sys.executable,
                "-m",
                "tessera_core.devstack",
                "router",
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
