"""Mailed links under concurrency: however many requests issue links at once, only one
works; and a voluntary password change is told to the address, as a reset is."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI

from tessera_auth.mail.mailbox import CaughtMail
from tests.fixtures.apps import PASSWORD, SettingsFactory, bearer, built_auth_app
from tests.fixtures.smtp import SmtpServer, link_token

FORGOT = "/api/v1/auth/password/forgot"
RESET = "/api/v1/auth/password/reset"
VERIFY = "/api/v1/auth/email/verify"
RESEND = "/api/v1/auth/email/verify/resend"
AT_ONCE = 10


@pytest.fixture
def auth_app(make_settings: SettingsFactory, smtp_server: SmtpServer) -> FastAPI:
    settings = make_settings(
        smtp_host="127.0.0.1",
        smtp_port=smtp_server.port,
        smtp_tls="none",
        mail_poll_seconds=0.05,
        password_forgot_min_seconds=0,
        # Room for every concurrent request: the race, not the limits, is under test.
        mail_requests_per_email=100,
        mail_requests_per_client=100,
        mail_requests_per_email_across_clients=100,
        password_reset_min_interval_seconds=0,
        mail_per_recipient=100,
    )
    return built_auth_app(settings)


async def links(smtp: SmtpServer, email: str, subject: str, count: int, path: str) -> list[str]:
    def wanted(m: CaughtMail) -> bool:
        return m.recipient == email and m.subject == subject

    mails = await smtp.wait_for(count, timeout=30, where=wanted)
    assert len(mails) == count
    return [link_token(m, path) for m in mails]


class TestConcurrentLinks:
    async def test_ten_forgot_requests_at_once_leave_one_working_link(
        self, auth_client: httpx.AsyncClient, user, smtp_server: SmtpServer
    ):
        answers = await asyncio.gather(
            *(auth_client.post(FORGOT, json={"email": user["email"]}) for _ in range(AT_ONCE))
        )
        assert {a.status_code for a in answers} == {202}
        tokens = await links(
            smtp_server, user["email"], "Reset your password", AT_ONCE, "/reset-password"
        )
        # A weak new password is refused only after the link is found good, so it tells a
        # working link (422 weak_password) from a void one without spending either.
        probes = [
            await auth_client.post(RESET, json={"token": t, "new_password": "a"}) for t in tokens
        ]
        working = [p.json()["code"] for p in probes].count("weak_password")
        print(f"\n{AT_ONCE} concurrent forgot-password requests: {working} working link(s)")
        assert working == 1

    async def test_ten_resends_at_once_leave_one_working_link(
        self, auth_client: httpx.AsyncClient, user, login, smtp_server: SmtpServer
    ):
        headers = bearer(await login(user["username"]))
        # The registration's own link, then the concurrent ones.
        await links(smtp_server, user["email"], "Confirm your email address", 1, "/verify-email")
        answers = await asyncio.gather(
            *(auth_client.post(RESEND, headers=headers) for _ in range(AT_ONCE))
        )
        assert {a.status_code for a in answers} == {202}, [a.text for a in answers]
        tokens = await links(
            smtp_server, user["email"], "Confirm your email address", AT_ONCE + 1, "/verify-email"
        )
        spent = [(await auth_client.post(VERIFY, json={"token": t})).status_code for t in tokens]
        print(f"\n{AT_ONCE} concurrent resends: {spent.count(204)} working link(s)")
        assert spent.count(204) == 1


class TestPasswordChangeNotice:
    async def test_a_voluntary_change_mails_a_notice(
        self, auth_client: httpx.AsyncClient, user, login, smtp_server: SmtpServer
    ):
        response = await auth_client.post(
            "/api/v1/auth/password",
            json={"current_password": PASSWORD, "new_password": "fresh-bassoon-2026"},
            headers=bearer(await login(user["username"])),
        )
        assert response.status_code == 204
        notice = await smtp_server.mail_to(user["email"], "Your password was changed")
        assert "just changed" in notice.body()
        assert user["username"] in notice.body()

    async def test_a_refused_change_mails_nothing(
        self, auth_client: httpx.AsyncClient, user, login, smtp_server: SmtpServer
    ):
        response = await auth_client.post(
            "/api/v1/auth/password",
            json={"current_password": "not-it", "new_password": "fresh-bassoon-2026"},
            headers=bearer(await login(user["username"])),
        )
        assert response.status_code == 400
        await asyncio.sleep(0.5)  # the delivery loop polls every 0.05 s
        assert not [m for m in smtp_server.messages() if "changed" in m.subject]
