"""One identifier, one account: usernames and emails share one canonical namespace."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.fixtures.apps import PASSWORD, registration

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"


class TestOneIdentifierOneAccount:
    """A username may not equal any account's email, nor an email any account's username,
    in canonical form (NFKC, case-folded, IDNA domain): one identifier, one account."""

    async def test_a_username_cannot_be_another_accounts_email(
        self, auth_client: httpx.AsyncClient
    ):
        assert (await auth_client.post(REGISTER, json=registration("victim"))).status_code == 201
        response = await auth_client.post(
            REGISTER, json=registration("victim@example.com", email="thief@example.com")
        )
        assert response.status_code == 409
        assert response.json()["code"] == "username_taken"
        # The victim's email login still reaches the victim.
        login = await auth_client.post(
            LOGIN, json={"username": "VICTIM@example.com", "password": PASSWORD}
        )
        assert login.status_code == 200

    async def test_an_email_cannot_be_another_accounts_username(
        self, auth_client: httpx.AsyncClient
    ):
        assert (
            await auth_client.post(
                REGISTER, json=registration("ops@example.com", email="o@example.com")
            )
        ).status_code == 201
        response = await auth_client.post(
            REGISTER, json=registration("mallory", email="Ops@Example.com")
        )
        assert response.status_code == 409
        assert response.json()["code"] == "email_taken"

    @pytest.mark.parametrize(
        ("first", "second"),
        [
            ("alice@example.com", "\uff21lice@\uff25\uff38\uff21\uff2d\uff30\uff2c\uff25.com"),
            ("strasse@example.com", "STRA\u00dfE@example.com"),
            ("bob@xn--bcher-kva.de", "bob@B\u00fcCHER.de"),
        ],
    )
    async def test_look_alike_emails_are_one_email(
        self, auth_client: httpx.AsyncClient, first: str, second: str
    ):
        assert (
            await auth_client.post(REGISTER, json=registration("first", email=first))
        ).status_code == 201
        response = await auth_client.post(REGISTER, json=registration("second", email=second))
        assert response.status_code == 409, response.text
        assert response.json()["code"] == "email_taken"

    async def test_a_look_alike_email_is_stored_as_given_and_logs_in_canonically(
        self, auth_client: httpx.AsyncClient
    ):
        given = "\uff21lice@\uff25\uff38\uff21\uff2d\uff30\uff2c\uff25.com"
        created = await auth_client.post(REGISTER, json=registration("alice", email=given))
        assert created.status_code == 201
        assert created.json()["email"] == given
        login = await auth_client.post(
            LOGIN, json={"username": "alice@example.com", "password": PASSWORD}
        )
        assert login.status_code == 200

    async def test_usernames_are_stored_in_nfkc(self, auth_client: httpx.AsyncClient):
        full_width = "\uff42\uff4f\uff42"  # "bob" in full-width letters
        created = await auth_client.post(
            REGISTER, json=registration(full_width, email="b@example.com")
        )
        assert created.status_code == 201
        assert created.json()["username"] == "bob"
        again = await auth_client.post(REGISTER, json=registration("BOB", email="b2@example.com"))
        assert again.json()["code"] == "username_taken"

    async def test_concurrent_claims_of_one_identifier_as_username_and_email(
        self, auth_client: httpx.AsyncClient
    ):
        """The database decides: half the racers claim it as a username, half as an email."""
        claims = [registration("race@example.com", email=f"r{i}@example.com") for i in range(4)] + [
            registration(f"racer{i}", email="RACE@example.com") for i in range(4)
        ]
        responses = await asyncio.gather(*(auth_client.post(REGISTER, json=c) for c in claims))
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [201] + [409] * 7, [r.text for r in responses]
