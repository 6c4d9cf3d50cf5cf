"""Service accounts: created by an administrator (the first secret shown once, stored
hashed), the client credentials grant with ``client_secret_basic`` (an ``at+jwt``, no refresh
token, scope narrowing), two secrets live for rotation and deleting one, deactivation
refusing every token at once in both services, the human-only rows refusing a service
token, and a password login as a service account failing like a wrong password."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from structlog.testing import capture_logs

from tests.fixtures.apps import PASSWORD
from tests.fixtures.jwt import unverified

ACCOUNTS = "/api/v1/auth/admin/service-accounts"
TOKEN = "/api/v1/auth/token"
VERIFY = "/api/v1/auth/verify"
SECRET_PATTERN = re.compile(r"tsr_sas_[0-9A-Za-z]{36}")


def basic(client_id: str, secret: str) -> dict[str, str]:
    # RFC 6749 §2.3.1: each part form-urlencoded, then base64.
    pair = f"{quote(client_id, safe='')}:{quote(secret, safe='')}"
    return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}


async def new_account(
    client: httpx.AsyncClient, admin_headers: dict[str, str], scope: str = "users:read"
) -> dict[str, Any]:
    response = await client.post(
        ACCOUNTS, json={"name": "billing sync", "scope": scope}, headers=admin_headers
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def grant(
    client: httpx.AsyncClient, client_id: str, secret: str, **form: str
) -> httpx.Response:
    return await client.post(
        TOKEN,
        data={"grant_type": "client_credentials", **form},
        headers=basic(client_id, secret),
    )


async def access_token(client: httpx.AsyncClient, account: dict[str, Any], secret: str) -> str:
    response = await grant(client, account["client_id"], secret)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def token_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class TestCreate:
    async def test_an_admin_gets_the_client_id_and_the_secret_once(
        self, auth_client, admin_headers, db_engine: AsyncEngine
    ):
        account = await new_account(auth_client, admin_headers)
        secret = account["secret"]["secret"]
        assert SECRET_PATTERN.fullmatch(secret)
        assert account["scope"] == "users:read"
        assert account["is_active"] is True
        assert [s["id"] for s in account["secrets"]] == [account["secret"]["id"]]
        read = (await auth_client.get(f"{ACCOUNTS}/{account['id']}", headers=admin_headers)).json()
        assert read["client_id"] == account["client_id"]
        assert "secret" not in read
        assert secret not in str(read)
        async with db_engine.connect() as conn:
            stored = (
                await conn.execute(
                    text("SELECT secret_hash FROM service_account_secret WHERE id = :id"),
                    {"id": account["secret"]["id"]},
                )
            ).scalar_one()
            is_service = (
                await conn.execute(
                    text('SELECT is_service FROM "user" WHERE id = :id'), {"id": account["id"]}
                )
            ).scalar_one()
        assert bytes(stored) == hashlib.sha256(secret.encode()).digest()
        assert is_service is True

    async def test_the_listing_shows_it_without_secrets(self, auth_client, admin_headers):
        account = await new_account(auth_client, admin_headers)
        listed = await auth_client.get(ACCOUNTS, headers=admin_headers)
        assert listed.status_code == 200
        assert [a["client_id"] for a in listed.json()] == [account["client_id"]]
        assert account["secret"]["secret"] not in listed.text

    async def test_a_non_admin_is_refused(self, auth_client, auth_headers):
        response = await auth_client.post(
            ACCOUNTS, json={"name": "x", "scope": "users:read"}, headers=auth_headers
        )
        assert (response.status_code, response.json()["code"]) == (403, "forbidden")

    @pytest.mark.parametrize("scope", ["profile:read", "users:read profile:write", "nope"])
    async def test_only_the_service_scopes(self, auth_client, admin_headers, scope):
        response = await auth_client.post(
            ACCOUNTS, json={"name": "x", "scope": scope}, headers=admin_headers
        )
        assert (response.status_code, response.json()["code"]) == (400, "invalid_scope")

    async def test_creation_and_deactivation_are_audited(self, auth_client, admin, admin_headers):
        with capture_logs() as logs:
            account = await new_account(auth_client, admin_headers)
            await auth_client.delete(f"{ACCOUNTS}/{account['id']}", headers=admin_headers)
        events = {(e["event"], e.get("service_account_id"), e.get("actor_id")) for e in logs}
        for event in (
            "service_account_created",
            "service_secret_created",
            "service_account_deactivated",
        ):
            assert (event, account["id"], admin["id"]) in events
        created = next(e for e in logs if e["event"] == "service_secret_created")
        assert created["credential_id"] == account["secret"]["id"]

    async def test_an_unknown_account_is_404(self, auth_client, admin_headers):
        response = await auth_client.get(
            f"{ACCOUNTS}/00000000-0000-0000-0000-000000000000", headers=admin_headers
        )
        assert (response.status_code, response.json()["code"]) == (
            404,
            "service_account_not_found",
        )


class TestClientCredentials:
    async def test_basic_auth_gives_an_access_token_and_no_refresh_token(
        self, auth_client, admin_headers
    ):
        account = await new_account(auth_client, admin_headers, scope="users:read users:write")
        response = await grant(auth_client, account["client_id"], account["secret"]["secret"])
        assert response.status_code == 200, response.text
        body = response.json()
        assert "refresh_token" not in body
        assert (body["token_type"], body["scope"]) == ("Bearer", "users:read users:write")
        assert body["expires_in"] > 0
        assert response.headers["cache-control"] == "no-store"
        header, claims = unverified(body["access_token"])
        assert header["typ"] == "at+jwt"
        assert claims["sub"] == account["id"]
        assert claims["client_id"] == account["client_id"]
        assert claims["scope"] == "users:read users:write"
        assert claims["amr"] == ["client_secret"]
        assert "auth_time" not in claims
        # A robot, not an administrator: whoever trusts roles alone gives it no admin power.
        assert claims["roles"] == ["service"]
        verified = await auth_client.get(VERIFY, headers=token_headers(body["access_token"]))
        assert verified.status_code == 200
        assert verified.headers["x-auth-roles"] == "service"
        assert verified.headers["x-auth-scope"] == "users:read users:write"

    async def test_a_narrower_scope_is_granted(self, auth_client, admin_headers):
        account = await new_account(auth_client, admin_headers, scope="users:read users:write")
        response = await grant(
            auth_client, account["client_id"], account["secret"]["secret"], scope="users:read"
        )
        assert response.json()["scope"] == "users:read"
        assert unverified(response.json()["access_token"])[1]["scope"] == "users:read"

    @pytest.mark.parametrize("scope", ["users:write", "profile:read", "bogus"])
    async def test_a_wider_or_unknown_scope_is_invalid_scope(
        self, auth_client, admin_headers, scope
    ):
        account = await new_account(auth_client, admin_headers, scope="users:read")
        response = await grant(
            auth_client, account["client_id"], account["secret"]["secret"], scope=scope
        )
        assert (response.status_code, response.json()["error"]) == (400, "invalid_scope")

    async def test_a_wrong_secret_or_unknown_client_is_invalid_client(
        self, auth_client, admin_headers
    ):
        account = await new_account(auth_client, admin_headers)
        other = await new_account(auth_client, admin_headers)
        for client_id, secret in [
            (account["client_id"], other["secret"]["secret"]),
            (account["client_id"], "tsr_sas_" + "0" * 36),
            ("sa-unknown", account["secret"]["secret"]),
            (account["client_id"], ""),
        ]:
            response = await grant(auth_client, client_id, secret)
            assert (response.status_code, response.json()["error"]) == (401, "invalid_client")
            assert response.headers["www-authenticate"].startswith("Basic")

    async def test_no_or_another_authorization_is_invalid_client(self, auth_client, admin_headers):
        account = await new_account(auth_client, admin_headers)
        missing = await auth_client.post(TOKEN, data={"grant_type": "client_credentials"})
        bearer_auth = await auth_client.post(
            TOKEN,
            data={"grant_type": "client_credentials"},
            headers={"Authorization": f"Bearer {account['secret']['secret']}"},
        )
        garbled = await auth_client.post(
            TOKEN,
            data={"grant_type": "client_credentials"},
            headers={"Authorization": "Basic !!!"},
        )
        for response in (missing, bearer_auth, garbled):
            assert (response.status_code, response.json()["error"]) == (401, "invalid_client")

    async def test_an_inactive_account_is_invalid_client(self, auth_client, admin_headers):
        account = await new_account(auth_client, admin_headers)
        deleted = await auth_client.delete(f"{ACCOUNTS}/{account['id']}", headers=admin_headers)
        assert deleted.status_code == 204
        response = await grant(auth_client, account["client_id"], account["secret"]["secret"])
        assert (response.status_code, response.json()["error"]) == (401, "invalid_client")


class TestSecrets:
    async def test_two_live_then_a_third_is_refused(self, auth_client, admin_headers):
        account = await new_account(auth_client, admin_headers)
        second = await auth_client.post(
            f"{ACCOUNTS}/{account['id']}/secrets", headers=admin_headers
        )
        assert second.status_code == 201
        assert SECRET_PATTERN.fullmatch(second.json()["secret"])
        third = await auth_client.post(f"{ACCOUNTS}/{account['id']}/secrets", headers=admin_headers)
        assert (third.status_code, third.json()["code"]) == (409, "secret_limit_reached")
        for secret in (account["secret"]["secret"], second.json()["secret"]):
            assert (await grant(auth_client, account["client_id"], secret)).status_code == 200

    async def test_deleting_one_stops_it_and_its_tokens_not_the_others(
        self, auth_client, admin_headers
    ):
        account = await new_account(auth_client, admin_headers)
        first = account["secret"]
        second = (
            await auth_client.post(f"{ACCOUNTS}/{account['id']}/secrets", headers=admin_headers)
        ).json()
        first_token = await access_token(auth_client, account, first["secret"])
        second_token = await access_token(auth_client, account, second["secret"])
        deleted = await auth_client.delete(
            f"{ACCOUNTS}/{account['id']}/secrets/{first['id']}", headers=admin_headers
        )
        assert deleted.status_code == 204
        refused = await grant(auth_client, account["client_id"], first["secret"])
        assert (refused.status_code, refused.json()["error"]) == (401, "invalid_client")
        assert (
            await auth_client.get(VERIFY, headers=token_headers(first_token))
        ).status_code == 401
        assert (
            await auth_client.get(VERIFY, headers=token_headers(second_token))
        ).status_code == 200
        assert (await grant(auth_client, account["client_id"], second["secret"])).status_code == 200
        read = (await auth_client.get(f"{ACCOUNTS}/{account['id']}", headers=admin_headers)).json()
        assert [s["id"] for s in read["secrets"]] == [second["id"]]
        # A slot is free again: rotation goes on.
        third = await auth_client.post(f"{ACCOUNTS}/{account['id']}/secrets", headers=admin_headers)
        assert third.status_code == 201

    async def test_deleting_an_unknown_secret_is_404(self, auth_client, admin_headers):
        account = await new_account(auth_client, admin_headers)
        response = await auth_client.delete(
            f"{ACCOUNTS}/{account['id']}/secrets/00000000-0000-0000-0000-000000000000",
            headers=admin_headers,
        )
        assert (response.status_code, response.json()["code"]) == (404, "secret_not_found")


class TestDeactivation:
    async def test_issued_tokens_are_refused_at_once_in_both_services(
        self, auth_client, users_client, admin_headers
    ):
        account = await new_account(auth_client, admin_headers)
        token = await access_token(auth_client, account, account["secret"]["secret"])
        listing = await users_client.get("/api/v1/users", headers=token_headers(token))
        assert listing.status_code == 200
        deleted = await auth_client.delete(f"{ACCOUNTS}/{account['id']}", headers=admin_headers)
        assert deleted.status_code == 204
        assert (await auth_client.get(VERIFY, headers=token_headers(token))).status_code == 401
        after = await users_client.get("/api/v1/users", headers=token_headers(token))
        assert (after.status_code, after.json()["code"]) == (401, "token_revoked")
        read = (await auth_client.get(f"{ACCOUNTS}/{account['id']}", headers=admin_headers)).json()
        assert (read["is_active"], read["secrets"]) == (False, [])


class TestHumanOnlyRows:
    """A service token holds only ``users:*``: every row of a person's own account needs
    ``profile:*`` or ``sessions:write``, which no service account may hold, so it is 403
    ``forbidden`` (no other token of it would help, RFC 6750 §3.1), saying why."""

    @pytest.mark.parametrize(
        ("method", "path", "body"),
        [
            ("POST", "/api/v1/auth/password", {"current_password": "x", "new_password": "y"}),
            ("GET", "/api/v1/auth/factors", None),
            ("POST", "/api/v1/auth/factors/totp", {}),
            ("POST", "/api/v1/auth/factors/recovery-codes", {}),
            ("POST", "/api/v1/auth/tokens", {"name": "x", "scope": "users:read"}),
            ("POST", "/api/v1/auth/logout-all", None),
        ],
    )
    async def test_the_auth_rows_refuse_it(self, auth_client, admin_headers, method, path, body):
        account = await new_account(auth_client, admin_headers, scope="users:read users:write")
        token = await access_token(auth_client, account, account["secret"]["secret"])
        response = await auth_client.request(method, path, json=body, headers=token_headers(token))
        assert (response.status_code, response.json()["code"]) == (403, "forbidden")
        assert "Service accounts" in response.json()["detail"]

    async def test_users_me_refuses_it(self, auth_client, users_client, admin_headers):
        account = await new_account(auth_client, admin_headers)
        token = await access_token(auth_client, account, account["secret"]["secret"])
        for response in (
            await users_client.get("/api/v1/users/me", headers=token_headers(token)),
            await users_client.patch(
                "/api/v1/users/me", json={"nickname": "x"}, headers=token_headers(token)
            ),
        ):
            assert (response.status_code, response.json()["code"]) == (403, "forbidden")
            assert "Service accounts" in response.json()["detail"]


class TestPasswordLogin:
    async def test_fails_like_a_wrong_password(self, auth_client, admin, admin_headers):
        account = await new_account(auth_client, admin_headers)
        as_service = await auth_client.post(
            "/api/v1/auth/login",
            json={"username": account["client_id"], "password": account["secret"]["secret"]},
        )
        wrong = await auth_client.post(
            "/api/v1/auth/login", json={"username": admin["username"], "password": PASSWORD + "x"}
        )
        assert as_service.status_code == wrong.status_code == 401
        assert as_service.json() == wrong.json()
        oauth = await auth_client.post(
            TOKEN,
            data={"grant_type": "password", "username": account["client_id"], "password": "x"},
        )
        assert (oauth.status_code, oauth.json()["error"]) == (400, "invalid_grant")

    async def test_fails_even_with_the_password_of_its_row(
        self, auth_client, admin, admin_headers, db_engine: AsyncEngine
    ):
        """Were a known password hash written on its row (an admin's edit, a reset link
        mailed to its placeholder address), the login still fails: the row is a service."""
        account = await new_account(auth_client, admin_headers)
        async with db_engine.begin() as conn:
            await conn.execute(
                text(
                    'UPDATE "user" SET password_hash = '
                    '(SELECT password_hash FROM "user" WHERE id = :admin) WHERE id = :id'
                ),
                {"admin": admin["id"], "id": account["id"]},
            )
        response = await auth_client.post(
            "/api/v1/auth/login", json={"username": account["client_id"], "password": PASSWORD}
        )
        assert (response.status_code, response.json()["code"]) == (401, "invalid_credentials")
