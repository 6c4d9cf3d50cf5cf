"""POST /api/v1/auth/register: the new account, the password policy, taken names, races."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.fixtures.apps import PASSWORD, USER_FIELDS, registration

REGISTER = "/api/v1/auth/register"


class TestRegister:
    async def test_creates_the_user_without_exposing_the_password(
        self, auth_client: httpx.AsyncClient
    ):
        response = await auth_client.post(
            REGISTER, json=registration(nickname="Bobby", first_name="Bob")
        )
        assert response.status_code == 201
        user = response.json()
        assert set(user) == USER_FIELDS
        assert (user["username"], user["nickname"], user["is_active"], user["is_admin"]) == (
            "bob",
            "Bobby",
            True,
            False,
        )
        assert user["last_login"] is None
        assert PASSWORD not in response.text

    async def test_username_taken_case_insensitively(self, auth_client: httpx.AsyncClient):
        assert (await auth_client.post(REGISTER, json=registration("carol"))).status_code == 201
        response = await auth_client.post(
            REGISTER, json=registration("CaRoL", email="other@example.com")
        )
        assert response.status_code == 409
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "username_taken"

    async def test_email_taken_case_insensitively(self, auth_client: httpx.AsyncClient):
        assert (await auth_client.post(REGISTER, json=registration("dave"))).status_code == 201
        response = await auth_client.post(
            REGISTER, json=registration("dave2", email="DAVE@Example.com")
        )
        assert response.status_code == 409
        assert response.json()["code"] == "email_taken"

    async def test_email_stored_as_given(self, auth_client: httpx.AsyncClient):
        response = await auth_client.post(
            REGISTER, json=registration("erin", email="Erin.Mixed@Example.COM")
        )
        assert response.json()["email"] == "Erin.Mixed@Example.COM"

    @pytest.mark.parametrize(
        ("password", "message"),
        [
            ("short1!", "too short"),
            ("password123", "too common"),
            ("83920174652", "entirely numeric"),
            ("Frank2024", "similar to the username"),
            ("frank.example", "similar to the email"),
        ],
    )
    async def test_weak_password_rejected(
        self, auth_client: httpx.AsyncClient, password: str, message: str
    ):
        response = await auth_client.post(REGISTER, json=registration("frank", password=password))
        assert response.status_code == 422
        problem = response.json()
        assert problem["code"] == "weak_password"
        assert any(message in e["message"] and e["field"] == "password" for e in problem["errors"])
        assert password not in response.text

    async def test_long_passphrase_accepted(self, auth_client: httpx.AsyncClient):
        passphrase = "a sixty-four character passphrase with no composition rules!!..."
        assert len(passphrase) == 64
        response = await auth_client.post(REGISTER, json=registration("gina", password=passphrase))
        assert response.status_code == 201

    async def test_unknown_fields_rejected(self, auth_client: httpx.AsyncClient):
        response = await auth_client.post(REGISTER, json=registration("hank", is_admin=True))
        assert response.status_code == 422
        problem = response.json()
        assert problem["code"] == "validation_failed"
        assert {"field": "is_admin", "message": "unknown field"} in problem["errors"]

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("username", "ab"),
            ("username", "has space"),
            ("username", "x" * 151),
            ("email", "not-an-email"),
        ],
    )
    async def test_invalid_username_or_email(
        self, auth_client: httpx.AsyncClient, field: str, value: str
    ):
        response = await auth_client.post(REGISTER, json={**registration("ivan"), field: value})
        assert response.status_code == 422
        assert [e["field"] for e in response.json()["errors"]] == [field]

    async def test_malformed_json_is_a_clear_422(self, auth_client: httpx.AsyncClient):
        response = await auth_client.post(
            REGISTER, content=b'{"username": ', headers={"content-type": "application/json"}
        )
        assert response.status_code == 422
        assert response.json()["code"] == "validation_failed"

    async def test_concurrent_registrations_give_one_201_and_409s(
        self, auth_client: httpx.AsyncClient
    ):
        responses = await asyncio.gather(
            *(
                auth_client.post(
                    REGISTER, json=registration("racer", email=f"racer{i}@example.com")
                )
                for i in range(6)
            )
        )
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [201, 409, 409, 409, 409, 409]
        assert {r.json()["code"] for r in responses if r.status_code == 409} == {"username_taken"}

    async def test_body_over_one_mebibyte_is_413(self, auth_client: httpx.AsyncClient):
        response = await auth_client.post(
            REGISTER, json=registration("jack", nickname="x" * (1024 * 1024 + 10))
        )
        assert response.status_code == 413
        assert response.json()["code"] == "payload_too_large"
