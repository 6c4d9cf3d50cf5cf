"""POST /register and POST /password."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.fixtures.apps import PASSWORD, USER_FIELDS, running

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"


def body(username: str = "bob", **overrides: object) -> dict[str, object]:
    return {
        "username": username,
        "email": f"{username}@example.com",
        "password": PASSWORD,
        **overrides,
    }


class TestRegister:
    async def test_creates_the_user_without_exposing_the_password(
        self, auth_client: httpx.AsyncClient
    ):
        response = await auth_client.post(REGISTER, json=body(nickname="Bobby", first_name="Bob"))
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
        assert (await auth_client.post(REGISTER, json=body("carol"))).status_code == 201
        response = await auth_client.post(REGISTER, json=body("CaRoL", email="other@example.com"))
        assert response.status_code == 409
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "username_taken"

    async def test_email_taken_case_insensitively(self, auth_client: httpx.AsyncClient):
        assert (await auth_client.post(REGISTER, json=body("dave"))).status_code == 201
        response = await auth_client.post(REGISTER, json=body("dave2", email="DAVE@Example.com"))
        assert response.status_code == 409
        assert response.json()["code"] == "email_taken"

    async def test_email_stored_as_given(self, auth_client: httpx.AsyncClient):
        response = await auth_client.post(
            REGISTER, json=body("erin", email="Erin.Mixed@Example.COM")
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
        response = await auth_client.post(REGISTER, json=body("frank", password=password))
        assert response.status_code == 422
        problem = response.json()
        assert problem["code"] == "weak_password"
        assert any(message in e["message"] and e["field"] == "password" for e in problem["errors"])
        assert password not in response.text

    async def test_long_passphrase_accepted(self, auth_client: httpx.AsyncClient):
        passphrase = "a sixty-four character passphrase with no composition rules!!..."
        assert len(passphrase) == 64
        response = await auth_client.post(REGISTER, json=body("gina", password=passphrase))
        assert response.status_code == 201

    async def test_unknown_fields_rejected(self, auth_client: httpx.AsyncClient):
        response = await auth_client.post(REGISTER, json=body("hank", is_admin=True))
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
        response = await auth_client.post(REGISTER, json={**body("ivan"), field: value})
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
                auth_client.post(REGISTER, json=body("racer", email=f"racer{i}@example.com"))
                for i in range(6)
            )
        )
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [201, 409, 409, 409, 409, 409]
        assert {r.json()["code"] for r in responses if r.status_code == 409} == {"username_taken"}

    async def test_body_over_one_mebibyte_is_413(self, auth_client: httpx.AsyncClient):
        response = await auth_client.post(
            REGISTER, json=body("jack", nickname="x" * (1024 * 1024 + 10))
        )
        assert response.status_code == 413
        assert response.json()["code"] == "payload_too_large"


class TestOneIdentifierOneAccount:
    """A username may not equal any account's email, nor an email any account's username,
    in canonical form (NFKC, case-folded, IDNA domain): one identifier, one account."""

    async def test_a_username_cannot_be_another_accounts_email(
        self, auth_client: httpx.AsyncClient
    ):
        assert (await auth_client.post(REGISTER, json=body("victim"))).status_code == 201
        response = await auth_client.post(
            REGISTER, json=body("victim@example.com", email="thief@example.com")
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
            await auth_client.post(REGISTER, json=body("ops@example.com", email="o@example.com"))
        ).status_code == 201
        response = await auth_client.post(REGISTER, json=body("mallory", email="Ops@Example.com"))
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
            await auth_client.post(REGISTER, json=body("first", email=first))
        ).status_code == 201
        response = await auth_client.post(REGISTER, json=body("second", email=second))
        assert response.status_code == 409, response.text
        assert response.json()["code"] == "email_taken"

    async def test_a_look_alike_email_is_stored_as_given_and_logs_in_canonically(
        self, auth_client: httpx.AsyncClient
    ):
        given = "\uff21lice@\uff25\uff38\uff21\uff2d\uff30\uff2c\uff25.com"
        created = await auth_client.post(REGISTER, json=body("alice", email=given))
        assert created.status_code == 201
        assert created.json()["email"] == given
        login = await auth_client.post(
            LOGIN, json={"username": "alice@example.com", "password": PASSWORD}
        )
        assert login.status_code == 200

    async def test_usernames_are_stored_in_nfkc(self, auth_client: httpx.AsyncClient):
        full_width = "\uff42\uff4f\uff42"  # "bob" in full-width letters
        created = await auth_client.post(REGISTER, json=body(full_width, email="b@example.com"))
        assert created.status_code == 201
        assert created.json()["username"] == "bob"
        again = await auth_client.post(REGISTER, json=body("BOB", email="b2@example.com"))
        assert again.json()["code"] == "username_taken"

    async def test_concurrent_claims_of_one_identifier_as_username_and_email(
        self, auth_client: httpx.AsyncClient
    ):
        """The database decides: half the racers claim it as a username, half as an email."""
        claims = [body("race@example.com", email=f"r{i}@example.com") for i in range(4)] + [
            body(f"racer{i}", email="RACE@example.com") for i in range(4)
        ]
        responses = await asyncio.gather(*(auth_client.post(REGISTER, json=c) for c in claims))
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [201] + [409] * 7, [r.text for r in responses]


class TestChangePassword:
    NEW = "new-passphrase-2026"

    async def test_changes_password_and_revokes_other_sessions(
        self, auth_client: httpx.AsyncClient, user, login
    ):
        other = await login(user["username"])
        current = await login(user["username"])
        headers = {"Authorization": f"Bearer {current['access_token']}"}
        response = await auth_client.post(
            "/api/v1/auth/password",
            json={"current_password": PASSWORD, "new_password": self.NEW},
            headers=headers,
        )
        assert response.status_code == 204
        other_headers = {"Authorization": f"Bearer {other['access_token']}"}
        rejected = await auth_client.get("/api/v1/auth/verify", headers=other_headers)
        assert rejected.status_code == 401
        assert rejected.json()["code"] == "token_revoked"
        refresh = await auth_client.post(
            "/api/v1/auth/refresh", json={"refresh_token": other["refresh_token"]}
        )
        assert refresh.status_code == 401
        assert (await auth_client.get("/api/v1/auth/verify", headers=headers)).status_code == 200
        old = await auth_client.post(
            "/api/v1/auth/login", json={"username": "alice", "password": PASSWORD}
        )
        assert old.status_code == 401
        await login("alice", self.NEW)

    async def test_wrong_current_password(self, auth_client: httpx.AsyncClient, auth_headers):
        response = await auth_client.post(
            "/api/v1/auth/password",
            json={"current_password": "not-my-password", "new_password": self.NEW},
            headers=auth_headers,
        )
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_current_password"

    async def test_wrong_current_passwords_are_counted_like_logins(
        self, auth_client: httpx.AsyncClient, auth_headers
    ):
        """A stolen access token cannot guess the current password without limit."""
        wrong = {"current_password": "not-my-password", "new_password": self.NEW}
        for _ in range(5):
            response = await auth_client.post(
                "/api/v1/auth/password", json=wrong, headers=auth_headers
            )
            assert response.status_code == 400
        response = await auth_client.post(
            "/api/v1/auth/password",
            json={"current_password": PASSWORD, "new_password": self.NEW},
            headers=auth_headers,
        )
        assert response.status_code == 429
        assert response.json()["code"] == "too_many_attempts"
        assert int(response.headers["retry-after"]) > 0
        # The same counters as logins of the account from this address.
        login = await auth_client.post(LOGIN, json={"username": "alice", "password": PASSWORD})
        assert login.status_code == 429

    async def test_weak_new_password(self, auth_client: httpx.AsyncClient, auth_headers):
        response = await auth_client.post(
            "/api/v1/auth/password",
            json={"current_password": PASSWORD, "new_password": "qwerty123"},
            headers=auth_headers,
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "new_password"

    async def test_requires_a_bearer_token(self, auth_client: httpx.AsyncClient):
        response = await auth_client.post(
            "/api/v1/auth/password", json={"current_password": PASSWORD, "new_password": self.NEW}
        )
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"
        assert response.headers["www-authenticate"] == "Bearer"


class TestSettingsThatShapeAccounts:
    async def test_custom_common_password_list(self, make_settings, tmp_path):
        from tessera_auth.app import create_app

        custom = tmp_path / "common.txt"
        custom.write_text("Tessera-Launch-2026\n")
        app = create_app(make_settings(common_passwords_file=custom))
        async with running(app) as client:
            rejected = await client.post(
                REGISTER, json=body("kate", password="tessera-launch-2026")
            )
            assert rejected.status_code == 422
            assert "too common" in rejected.json()["errors"][0]["message"]
            # The shipped list is replaced, not extended.
            assert (
                await client.post(REGISTER, json=body("kate", password="iloveyou123"))
            ).status_code == 201

    async def test_cors_for_configured_origins_only(self, make_settings):
        from tessera_auth.app import create_app

        app = create_app(make_settings(cors_origins=["https://app.example"]))
        async with running(app) as client:
            preflight = {
                "access-control-request-method": "POST",
                "access-control-request-headers": "authorization",
            }
            allowed = await client.options(
                REGISTER, headers={"origin": "https://app.example", **preflight}
            )
            assert allowed.headers["access-control-allow-origin"] == "https://app.example"
            other = await client.options(
                REGISTER, headers={"origin": "https://evil.example", **preflight}
            )
            assert "access-control-allow-origin" not in other.headers
