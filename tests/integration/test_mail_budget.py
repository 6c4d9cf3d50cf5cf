"""No one can use Tessera to mail a stranger: one budget per recipient where every message
is queued (keyed by the canonical address), a limit on email changes per account and on
registrations per client; a spent budget never holds back the owner's reset."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.fixtures.apps import PASSWORD, SettingsFactory, with_lifespan_state

ME = "/api/v1/users/me"
REGISTER = "/api/v1/auth/register"
FORGOT = "/api/v1/auth/password/forgot"
VICTIM = "victim@example.com"
# The victim's mailbox, written two ways: the budget counts it once.
VICTIM_VARIANTS = ("Victim@Example.com", "victim@EXAMPLE.com")


async def mail_to(db_engine: AsyncEngine, address: str) -> list[str]:
    async with db_engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT kind FROM mail_outbox WHERE lower(recipient) = :a ORDER BY created_at"),
            {"a": address.lower()},
        )
        return [kind for (kind,) in rows]


async def flip(users_client: httpx.AsyncClient, headers: dict[str, str], email: str) -> int:
    response = await users_client.patch(
        ME, json={"email": email, "current_password": PASSWORD}, headers=headers
    )
    return response.status_code


class TestEmailChangesPerAccount:
    async def test_flipping_the_email_is_limited(self, users_client, user, auth_headers):
        statuses = [
            await flip(users_client, auth_headers, VICTIM if i % 2 == 0 else user["email"])
            for i in range(4)
        ]
        assert statuses == [200, 200, 200, 429]
        response = await users_client.patch(
            ME, json={"email": user["email"], "current_password": PASSWORD}, headers=auth_headers
        )
        assert response.json()["code"] == "too_many_requests"
        assert int(response.headers["Retry-After"]) > 0


class TestRecipientBudget:
    @pytest.fixture
    def settings(self, make_settings: SettingsFactory):
        return make_settings(mail_per_recipient=3)

    @pytest.fixture
    def users_app(self, make_users_app) -> FastAPI:
        # Only the budget stands between the flips and the victim here.
        return make_users_app(mail_per_recipient=3, email_changes_per_account=100)

    async def test_an_email_flipped_twenty_times_mails_the_victim_at_most_the_budget(
        self, users_client, user, auth_headers, db_engine
    ):
        for i in range(20):
            target = VICTIM_VARIANTS[i % 4 // 2] if i % 2 == 0 else user["email"]
            assert await flip(users_client, auth_headers, target) == 200
        received = await mail_to(db_engine, VICTIM)
        print(f"\n20 email flips through a victim's address: {len(received)} mails to the victim")
        assert len(received) == 3

    async def test_a_spent_budget_does_not_hold_back_the_owners_reset(
        self, auth_client, users_client, user, auth_headers, db_engine
    ):
        # Three notices and links spend the owner's budget...
        for target in (VICTIM, user["email"]):
            assert await flip(users_client, auth_headers, target) == 200
        spent = await mail_to(db_engine, user["email"])
        assert len(spent) >= 3
        assert await flip(users_client, auth_headers, VICTIM) == 200
        assert await mail_to(db_engine, user["email"]) == spent  # held back
        assert await flip(users_client, auth_headers, user["email"]) == 200
        before = await mail_to(db_engine, user["email"])
        # ...and the owner's reset still goes out.
        assert (await auth_client.post(FORGOT, json={"email": user["email"]})).status_code == 202
        assert await mail_to(db_engine, user["email"]) == [*before, "password_reset"]


class TestRegistrationsPerClient:
    @pytest.fixture
    def settings(self, make_settings: SettingsFactory):
        return make_settings(registrations_per_client=3)

    async def test_a_client_registers_a_few_accounts_per_window(self, auth_app, auth_client):
        statuses = []
        for i in range(4):
            body = {"username": f"many{i}", "email": f"many{i}@example.com", "password": PASSWORD}
            statuses.append((await auth_client.post(REGISTER, json=body)).status_code)
        assert statuses == [201, 201, 201, 429]
        transport = httpx.ASGITransport(with_lifespan_state(auth_app), client=("2001:db8::9", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
            body = {"username": "elsewhere", "email": "elsewhere@example.com", "password": PASSWORD}
            assert (await other.post(REGISTER, json=body)).status_code == 201
