"""A stranger cannot block an owner's recovery: forgot-password is limited per (address,
client) strictly and per address loosely, and a stranger's request does not void the
owner's newest link."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from tessera_auth.mail.mailbox import CaughtMail
from tests.fixtures.apps import SettingsFactory, built_auth_app, with_lifespan_state
from tests.fixtures.smtp import SmtpServer, link_token

FORGOT = "/api/v1/auth/password/forgot"
RESET = "/api/v1/auth/password/reset"
STRANGER = "203.0.113.9"
OWNER = "198.51.100.20"


@pytest.fixture
def auth_app(make_settings: SettingsFactory, smtp_server: SmtpServer) -> FastAPI:
    return built_auth_app(
        make_settings(
            smtp_host="127.0.0.1",
            smtp_port=smtp_server.port,
            smtp_tls="none",
            mail_poll_seconds=0.05,
            password_forgot_min_seconds=0,
            mail_requests_per_email_across_clients=5,
        )
    )


def from_address(app: FastAPI, address: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(with_lifespan_state(app), client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def forgot_from(app: FastAPI, address: str, email: str) -> int:
    async with from_address(app, address) as client:
        return (await client.post(FORGOT, json={"email": email})).status_code


def resets_to(email: str):
    def wanted(m: CaughtMail) -> bool:
        return m.recipient == email and m.subject == "Reset your password"

    return wanted


class TestForgotPasswordLimits:
    async def test_a_strangers_requests_do_not_refuse_the_owners(self, auth_app, auth_client, user):
        stranger = [await forgot_from(auth_app, STRANGER, user["email"]) for _ in range(4)]
        assert stranger == [202, 202, 202, 429]
        assert await forgot_from(auth_app, OWNER, user["email"]) == 202

    async def test_an_address_is_limited_loosely_across_clients(self, auth_app, auth_client):
        statuses = [
            await forgot_from(auth_app, f"192.0.2.{i}", "someone@example.com") for i in range(6)
        ]
        assert statuses == [202] * 5 + [429]


class TestTheOwnersLinkSurvives:
    async def test_a_strangers_request_does_not_void_the_newest_link(
        self, auth_app, auth_client, user, smtp_server
    ):
        assert await forgot_from(auth_app, OWNER, user["email"]) == 202
        mails = await smtp_server.wait_for(1, where=resets_to(user["email"]))
        token = link_token(mails[-1], "/reset-password")
        for _ in range(2):
            assert await forgot_from(auth_app, STRANGER, user["email"]) == 202
        response = await auth_client.post(
            RESET, json={"token": token, "new_password": "my-own-tuba-2026"}
        )
        assert response.status_code == 204, response.text
        # Nothing new was mailed while the owner's link was young (delivery polls every 0.05 s).
        await asyncio.sleep(0.5)
        assert len([m for m in smtp_server.messages() if resets_to(user["email"])(m)]) == 1

    async def test_an_older_link_is_replaced(
        self, auth_app, auth_client, user, smtp_server, db_engine
    ):
        assert await forgot_from(auth_app, OWNER, user["email"]) == 202
        first = link_token(
            (await smtp_server.wait_for(1, where=resets_to(user["email"])))[-1], "/reset-password"
        )
        async with db_engine.begin() as conn:
            await conn.execute(
                text("UPDATE account_token SET created_at = created_at - interval '6 minutes'")
            )
        assert await forgot_from(auth_app, STRANGER, user["email"]) == 202
        mails = await smtp_server.wait_for(2, where=resets_to(user["email"]))
        assert len(mails) == 2
        voided = await auth_client.post(RESET, json={"token": first, "new_password": "x-y-z-2026!"})
        assert voided.json()["code"] == "invalid_reset_token"
