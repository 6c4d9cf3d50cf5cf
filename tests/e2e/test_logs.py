"""What the processes log: JSON lines with the request context, and never a secret."""

from __future__ import annotations

import json
import time
import uuid

import httpx
import pytest

from tests.e2e.stack import Proc, Stack

pytestmark = pytest.mark.e2e


def json_lines(text: str) -> list[dict]:
    """The complete JSON lines of a log; a line still being written (after the last
    newline) is left for later. Split on newlines only: a fuzzed path in nginx's line may
    hold U+2028 or U+0085, which str.splitlines() also breaks at."""
    *complete, _ = text.split("\n")
    return [json.loads(line) for line in complete if line.startswith("{")]


def lines_of_request(proc: Proc, request_id: str, timeout: float = 5) -> list[dict]:
    """The lines of ``proc``'s log that carry ``request_id``, waiting for the first: a
    process writes a request's line just after its response."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [line for line in json_lines(proc.log()) if line.get("request_id") == request_id]
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


class TestLogs:
    def test_no_password_token_or_authorization_value_is_ever_logged(
        self, stack: Stack, gateway_client: httpx.Client
    ):
        username = f"logs{uuid.uuid4().hex[:10]}"
        password = f"Secret-{uuid.uuid4().hex}"
        new_password = f"Newer-{uuid.uuid4().hex}"
        wrong_password = f"Wrong-{uuid.uuid4().hex}"
        secrets: list[str] = [password, new_password, wrong_password]

        assert (
            gateway_client.post(
                "/api/v1/auth/register",
                json={
                    "username": username,
                    "email": f"{username}@example.com",
                    "password": password,
                },
            ).status_code
            == 201
        )
        pair = gateway_client.post(
            "/api/v1/auth/login", json={"username": username, "password": password}
        ).json()
        secrets += [pair["access_token"], pair["refresh_token"]]
        refreshed = gateway_client.post(
            "/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}
        ).json()
        secrets += [refreshed["access_token"], refreshed["refresh_token"]]
        failed = gateway_client.post(
            "/api/v1/auth/login", json={"username": username, "password": wrong_password}
        )
        assert failed.status_code == 401
        oauth = gateway_client.post(
            "/api/v1/auth/token",
            data={
                "grant_type": "password",
                "username": username,
                "password": password,
            },
        )
        assert oauth.status_code == 200
        secrets += [oauth.json()["access_token"], oauth.json()["refresh_token"]]
        headers = {"Authorization": f"Bearer {refreshed['access_token']}"}
        changed = gateway_client.post(
            "/api/v1/auth/password",
            headers=headers,
            json={
                "current_password": password,
                "new_password": new_password,
            },
        )
        assert changed.status_code == 204, changed.text
        # A malformed bearer value is logged nowhere either.
        junk = f"junk{uuid.uuid4().hex}"
        secrets.append(junk)
        assert (
            gateway_client.get(
                "/api/v1/auth/verify", headers={"Authorization": f"Bearer {junk}"}
            ).status_code
            == 401
        )
        gateway_client.get("/api/v1/users/me", headers=headers)

        logs = stack.all_logs()
        assert username in logs or "request" in logs  # the scan reads real output
        leaked = [s[:12] + "..." for s in secrets if s in logs]
        assert not leaked, f"secrets in the logs: {leaked}"
        # Token fragments too: the signature part of a JWT is the sensitive bit.
        signatures = [
            t.rsplit(".", 1)[-1] for t in (pair["access_token"], refreshed["access_token"])
        ]
        assert not [s for s in signatures if s in logs]

    def test_every_request_line_carries_its_context(
        self, stack: Stack, gateway_client: httpx.Client
    ):
        request_id = f"ctx-{uuid.uuid4().hex}"
        username = f"ctx{uuid.uuid4().hex[:10]}"
        gateway_client.post(
            "/api/v1/auth/register",
            json={
                "username": username,
                "email": f"{username}@example.com",
                "password": "quartz-lantern-1987",
            },
        )
        tokens = gateway_client.post(
            "/api/v1/auth/login", json={"username": username, "password": "quartz-lantern-1987"}
        ).json()
        response = gateway_client.get(
            "/api/v1/auth/sessions",
            headers={
                "Authorization": f"Bearer {tokens['access_token']}",
                "X-Request-ID": request_id,
            },
        )
        assert response.headers["x-request-id"] == request_id
        lines = lines_of_request(stack.auth.proc, request_id)
        assert lines, "no auth log line carries the request id"
        request_line = next(line for line in lines if line["event"] == "request")
        assert request_line["route"] == "/api/v1/auth/sessions"
        assert request_line["status"] == 200
        # A request that reads PostgreSQL takes some time: 0 would mean it was never timed.
        assert isinstance(request_line["duration_ms"], float)
        assert request_line["duration_ms"] > 0
        assert request_line["user_id"]
        gateway_lines = lines_of_request(stack.gateway.proc, request_id)
        assert gateway_lines
        assert gateway_lines[0]["path"] == "/api/v1/auth/sessions"

    def test_console_format_is_readable_in_a_terminal(self):
        import subprocess
        import sys

        code = (
            "import structlog; from tessera_core.ops.logging import configure_logging;"
            "from tessera_core.settings import Settings;"
            "configure_logging(Settings(env='dev', log_format='console'));"
            "structlog.get_logger('t').info('hello', route='/x', password='p')"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        assert "hello" in result.stderr
        assert "route" in result.stderr
        assert not result.stderr.lstrip().startswith("{")
        assert "password=p" not in result.stderr.replace("'", "")
