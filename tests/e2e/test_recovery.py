"""Password reset and email verification through the gateway, with both services as
processes and the auth service delivering to a real SMTP server (aiosmtpd in a process)."""

from __future__ import annotations

import re
import time

import httpx

from tessera_core.mailcatcher import CaughtMail
from tests.e2e.accounts import PASSWORD, log_in, register
from tests.e2e.stack import MAIL_LINK_BASE, Stack
from tests.fixtures.apps import bearer

NEW_PASSWORD = "velvet-harbour-2031"


def wait_for_mail(stack: Stack, recipient: str, subject: str, timeout: float = 20) -> CaughtMail:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [
            m for m in stack.smtp.messages() if m.recipient == recipient and m.subject == subject
        ]
        if found:
            return found[-1]
        time.sleep(0.1)
    raise AssertionError(f"no mail {subject!r} to {recipient} within {timeout}s")


def link_token(mail: CaughtMail, path: str) -> str:
    found = re.search(re.escape(f"{MAIL_LINK_BASE}{path}?token=") + r"([\w-]+)", mail.body())
    assert found, mail.body()
    return found.group(1)


class TestPasswordReset:
    def test_forgot_mail_reset_ends_sessions_in_both_services(
        self, stack: Stack, gateway_client: httpx.Client
    ):
        username = register(gateway_client, "reset")
        email = f"{username}@example.com"
        sessions = [log_in(gateway_client, username) for _ in range(2)]

        forgot = gateway_client.post("/api/v1/auth/password/forgot", json={"email": email})
        assert forgot.status_code == 202
        token = link_token(wait_for_mail(stack, email, "Reset your password"), "/reset-password")
        reset = gateway_client.post(
            "/api/v1/auth/password/reset", json={"token": token, "new_password": NEW_PASSWORD}
        )
        assert reset.status_code == 204, reset.text

        for pair in sessions:
            for path in ("/api/v1/users/me", "/api/v1/auth/sessions"):
                assert gateway_client.get(path, headers=bearer(pair)).status_code == 401, path
            refreshed = gateway_client.post(
                "/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}
            )
            assert refreshed.status_code == 401
        old = gateway_client.post(
            "/api/v1/auth/login", json={"username": username, "password": PASSWORD}
        )
        assert old.status_code == 401
        new = gateway_client.post(
            "/api/v1/auth/login", json={"username": username, "password": NEW_PASSWORD}
        )
        assert new.status_code == 200
        me = gateway_client.get("/api/v1/users/me", headers=bearer(new.json()))
        assert me.status_code == 200
        assert wait_for_mail(stack, email, "Your password was changed")

        again = gateway_client.post(
            "/api/v1/auth/password/reset",
            json={"token": token, "new_password": "x-" + NEW_PASSWORD},
        )
        assert (again.status_code, again.json()["code"]) == (400, "reset_token_used")

    def test_known_and_unknown_addresses_get_the_same_answer(
        self, stack: Stack, gateway_client: httpx.Client
    ):
        username = register(gateway_client, "enum")
        known = gateway_client.post(
            "/api/v1/auth/password/forgot", json={"email": f"{username}@example.com"}
        )
        unknown = gateway_client.post(
            "/api/v1/auth/password/forgot", json={"email": f"ghost-{username}@example.com"}
        )
        assert known.status_code == unknown.status_code == 202
        assert known.content == unknown.content


class TestEmailVerification:
    def test_registration_link_verifies_the_address(
        self, stack: Stack, gateway_client: httpx.Client
    ):
        username = register(gateway_client, "verify")
        email = f"{username}@example.com"
        tokens = log_in(gateway_client, username)
        me = gateway_client.get("/api/v1/users/me", headers=bearer(tokens))
        assert me.json()["email_verified"] is False
        token = link_token(
            wait_for_mail(stack, email, "Confirm your email address"), "/verify-email"
        )
        verified = gateway_client.post("/api/v1/auth/email/verify", json={"token": token})
        assert verified.status_code == 204
        me = gateway_client.get("/api/v1/users/me", headers=bearer(tokens))
        assert me.json()["email_verified"] is True
        resend = gateway_client.post("/api/v1/auth/email/verify/resend", headers=bearer(tokens))
        assert (resend.status_code, resend.json()["code"]) == (409, "email_already_verified")
