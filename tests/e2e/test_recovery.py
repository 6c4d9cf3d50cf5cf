"""Password reset and email verification through the gateway, with both services as
processes and the auth service delivering to a real SMTP server (aiosmtpd in a process)."""

from __future__ import annotations

import statistics
import time

import httpx

from tessera_auth.mail.mailbox import CaughtMail
from tests.e2e.accounts import PASSWORD, log_in, register
from tests.e2e.stack import MAIL_LINK_BASE, Stack, run_sql
from tests.fixtures.apps import bearer
from tests.fixtures.smtp import link_token as smtp_link_token

NEW_PASSWORD = "velvet-harbour-2031"


def wait_for_mail(stack: Stack, recipient: str, subject: str, timeout: float = 20) -> CaughtMail:
    return stack.smtp.wait_for_mail(recipient, subject, timeout)


def link_token(mail: CaughtMail, path: str) -> str:
    return smtp_link_token(mail, path, base=MAIL_LINK_BASE)


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

    def test_known_and_unknown_addresses_get_the_same_answer_in_the_same_time(
        self, stack: Stack, gateway_client: httpx.Client
    ):
        """Same status, same body, and medians within 30% over many tries (each known
        address is asked for once: the per-address limit is 3 an hour)."""
        known_emails = [f"{register(gateway_client, 'enum')}@example.com" for _ in range(12)]
        timings: dict[str, list[float]] = {"known": [], "unknown": []}
        answers = set()
        for i, email in enumerate(known_emails):
            pair = [("known", email), ("unknown", f"ghost-{i}-{email}")]
            for kind, address in pair if i % 2 else reversed(pair):
                started = time.perf_counter()
                response = gateway_client.post(
                    "/api/v1/auth/password/forgot", json={"email": address}
                )
                timings[kind].append(time.perf_counter() - started)
                answers.add((response.status_code, response.content))
        assert len(answers) == 1
        assert next(iter(answers))[0] == 202
        known, unknown = (statistics.median(timings[k][2:]) for k in ("known", "unknown"))
        assert abs(known - unknown) / max(known, unknown) < 0.30, (known, unknown)
        for email in known_emails:  # the known ones were sent a link after all
            wait_for_mail(stack, email, "Reset your password")


class TestMailOutage:
    def test_mail_waits_while_the_relay_is_down_and_goes_once_it_is_back(
        self, stack: Stack, gateway_client: httpx.Client
    ):
        stack.smtp.stop()
        try:
            usernames = [register(gateway_client, "outage") for _ in range(3)]
            emails = {f"{u}@example.com" for u in usernames}
            time.sleep(1.0)  # several delivery passes fail meanwhile
            rows = run_sql(
                stack,
                "SELECT status, attempts FROM mail_outbox WHERE recipient = ANY(:r)",
                r=list(emails),
            )
            assert sorted(status for status, _ in rows) == ["pending"] * 3
            assert all(attempts >= 1 for _, attempts in rows)
            ready = httpx.get(f"{stack.auth.url}/readyz", timeout=10)
            assert ready.status_code == 200, ready.text  # the relay is no dependency
        finally:
            stack.smtp.start()
        for email in emails:
            wait_for_mail(stack, email, "Confirm your email address", timeout=30)
        time.sleep(1.0)  # a duplicate would have arrived by now
        caught = [m for m in stack.smtp.messages() if m.recipient in emails]
        assert len(caught) == 3
        assert len({str(m.message["Message-ID"]) for m in caught}) == 3
        rows = run_sql(
            stack, "SELECT status FROM mail_outbox WHERE recipient = ANY(:r)", r=list(emails)
        )
        assert [status for (status,) in rows] == ["sent"] * 3


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
