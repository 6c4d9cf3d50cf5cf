"""Passkeys (WebAuthn) at the API, with a software authenticator: registering several,
naming and removing them, signing in with one alone and as the second step of a password
login; the relying party's checks (origin, user verification, replayed ceremonies, a
signature counter gone back)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.fixtures.apps import PASSWORD, bearer, log_in, promote_to_admin, register_and_login
from tests.fixtures.jwt import unverified
from tests.fixtures.webauthn import SoftAuthenticator

PASSKEYS = "/api/v1/auth/factors/passkeys"
OPTIONS = "/api/v1/auth/login/passkey/options"
PASSKEY_LOGIN = "/api/v1/auth/login/passkey"


async def register_passkey(
    client: httpx.AsyncClient, pair: dict[str, Any], device: SoftAuthenticator, name: str
) -> httpx.Response:
    options = await client.post(
        f"{PASSKEYS}/options", json={"password": PASSWORD}, headers=bearer(pair)
    )
    assert options.status_code == 200, options.text
    body = options.json()
    return await client.post(
        PASSKEYS,
        json={
            "ceremony": body["ceremony"],
            "credential": device.create(body["public_key"]),
            "name": name,
        },
        headers=bearer(pair),
    )


async def passkey_login(
    client: httpx.AsyncClient, device: SoftAuthenticator, **get: Any
) -> httpx.Response:
    options = (await client.post(OPTIONS, json={})).json()
    return await client.post(
        PASSKEY_LOGIN,
        json={
            "ceremony": options["ceremony"],
            "credential": device.get(options["public_key"], **get),
        },
    )


class TestRegistration:
    async def test_several_per_account_listed_renamed_and_each_signs_in_alone(
        self, auth_client: httpx.AsyncClient
    ):
        pair = await register_and_login(auth_client, "paula")
        laptop, phone = SoftAuthenticator(), SoftAuthenticator()
        first = await register_passkey(auth_client, pair, laptop, "Laptop")
        assert first.status_code == 201, first.text
        # A new factor ends the other sessions, not the one that added it.
        second = await register_passkey(auth_client, pair, phone, "Phone")
        assert second.status_code == 201, second.text
        listed = (await auth_client.get(PASSKEYS, headers=bearer(pair))).json()
        assert [p["name"] for p in listed] == ["Laptop", "Phone"]
        assert all(p["last_used_at"] is None for p in listed)
        renamed = await auth_client.patch(
            f"{PASSKEYS}/{listed[1]['id']}", json={"name": "Work phone"}, headers=bearer(pair)
        )
        assert renamed.json()["name"] == "Work phone"

        for device in (laptop, phone):
            signed_in = await passkey_login(auth_client, device)
            assert signed_in.status_code == 200, signed_in.text
            claims = unverified(signed_in.json()["access_token"])[1]
            assert claims["preferred_username"] == "paula"
            assert claims["amr"] == ["hwk", "user", "mfa"]
        listed = (await auth_client.get(PASSKEYS, headers=bearer(pair))).json()
        assert all(p["last_used_at"] is not None for p in listed)

    async def test_options_need_the_password_and_exclude_the_accounts_passkeys(
        self, auth_client: httpx.AsyncClient
    ):
        pair = await register_and_login(auth_client, "peter")
        wrong = await auth_client.post(
            f"{PASSKEYS}/options", json={"password": "nope"}, headers=bearer(pair)
        )
        assert (wrong.status_code, wrong.json()["code"]) == (400, "invalid_current_password")
        device = SoftAuthenticator()
        assert (await register_passkey(auth_client, pair, device, "Key")).status_code == 201
        options = (
            await auth_client.post(
                f"{PASSKEYS}/options", json={"password": PASSWORD}, headers=bearer(pair)
            )
        ).json()["public_key"]
        assert [c["id"] for c in options["excludeCredentials"]] == [device.create(options)["id"]]
        assert options["authenticatorSelection"]["residentKey"] == "required"
        assert options["rp"] == {"id": "localhost", "name": "Tessera"}

    async def test_another_origin_and_a_replayed_ceremony_are_refused(
        self, auth_client: httpx.AsyncClient
    ):
        pair = await register_and_login(auth_client, "ozzy")
        options = (
            await auth_client.post(
                f"{PASSKEYS}/options", json={"password": PASSWORD}, headers=bearer(pair)
            )
        ).json()
        phishing = SoftAuthenticator(origin="https://tessera.example.evil")
        refused = await auth_client.post(
            PASSKEYS,
            json={
                "ceremony": options["ceremony"],
                "credential": phishing.create(options["public_key"]),
            },
            headers=bearer(pair),
        )
        assert (refused.status_code, refused.json()["code"]) == (401, "invalid_passkey")
        # The ceremony was taken by that attempt: the right origin cannot reuse it.
        again = await auth_client.post(
            PASSKEYS,
            json={
                "ceremony": options["ceremony"],
                "credential": SoftAuthenticator().create(options["public_key"]),
            },
            headers=bearer(pair),
        )
        assert (again.status_code, again.json()["code"]) == (401, "invalid_passkey")


class TestPasskeyLogin:
    async def test_alone_it_must_verify_its_user(self, auth_client: httpx.AsyncClient):
        pair = await register_and_login(auth_client, "uvless")
        touch_only = SoftAuthenticator(verifies_user=False)
        refused = await register_passkey(auth_client, pair, touch_only, "Token")
        assert (refused.status_code, refused.json()["code"]) == (401, "invalid_passkey")

    async def test_a_counter_that_goes_back_is_a_clone_and_is_refused(
        self, auth_client: httpx.AsyncClient
    ):
        pair = await register_and_login(auth_client, "clone")
        device = SoftAuthenticator()
        assert (await register_passkey(auth_client, pair, device, "Key")).status_code == 201
        assert (await passkey_login(auth_client, device, sign_count=5)).status_code == 200
        lagging = await passkey_login(auth_client, device, sign_count=3)
        assert (lagging.status_code, lagging.json()["code"]) == (401, "invalid_passkey")
        assert (await passkey_login(auth_client, device, sign_count=6)).status_code == 200

    async def test_an_unknown_passkey_and_a_used_ceremony_are_refused(
        self, auth_client: httpx.AsyncClient
    ):
        stranger = await passkey_login(auth_client, SoftAuthenticator())
        assert (stranger.status_code, stranger.json()["code"]) == (401, "invalid_passkey")
        used = await auth_client.post(
            PASSKEY_LOGIN, json={"ceremony": "made-up", "credential": {"id": "x"}}
        )
        assert (used.status_code, used.json()["code"]) == (401, "invalid_passkey")


class TestAsSecondFactor:
    async def test_a_password_login_of_an_account_with_a_passkey_asks_for_it(
        self, auth_client: httpx.AsyncClient
    ):
        pair = await register_and_login(auth_client, "petra")
        device = SoftAuthenticator()
        assert (await register_passkey(auth_client, pair, device, "Key")).status_code == 201
        login = await auth_client.post(
            "/api/v1/auth/login", json={"username": "petra", "password": PASSWORD}
        )
        assert login.status_code == 403, login.text
        assert login.json()["methods"] == ["passkey"]
        challenge = login.json()["challenge"]
        # A code cannot answer for an account without TOTP.
        code = await auth_client.post(
            "/api/v1/auth/login/second-factor", json={"challenge": challenge, "code": "123456"}
        )
        assert code.json()["code"] == "invalid_second_factor"
        options = (await auth_client.post(OPTIONS, json={"challenge": challenge})).json()
        assert [c["id"] for c in options["public_key"]["allowCredentials"]] == [
            device.get(options["public_key"])["id"]
        ]
        answered = await auth_client.post(
            "/api/v1/auth/login/second-factor",
            json={
                "challenge": challenge,
                "passkey": {
                    "ceremony": options["ceremony"],
                    "credential": device.get(options["public_key"]),
                },
            },
        )
        assert answered.status_code == 200, answered.text
        assert unverified(answered.json()["access_token"])[1]["amr"] == ["pwd", "hwk", "mfa"]

    async def test_removing_a_passkey_needs_step_up(self, auth_client: httpx.AsyncClient):
        pair = await register_and_login(auth_client, "remy")
        device = SoftAuthenticator()
        created = await register_passkey(auth_client, pair, device, "Key")
        path = f"{PASSKEYS}/{created.json()['id']}"
        # The session that added it was proved by the password alone.
        refused = await auth_client.delete(path, headers=bearer(pair))
        assert refused.json()["code"] == "insufficient_user_authentication"
        stepped_up = (await passkey_login(auth_client, device)).json()
        removed = await auth_client.delete(path, headers=bearer(stepped_up))
        assert removed.status_code == 204, removed.text
        login = await auth_client.post(
            "/api/v1/auth/login", json={"username": "remy", "password": PASSWORD}
        )
        assert login.status_code == 200


class TestAdminRemoval:
    async def test_an_admin_removes_a_users_passkeys_too(
        self, auth_client: httpx.AsyncClient, database_url: str
    ):
        pair = await register_and_login(auth_client, "lostkey")
        device = SoftAuthenticator()
        assert (await register_passkey(auth_client, pair, device, "Key")).status_code == 201
        admin = await register_and_login(auth_client, "warden")
        await promote_to_admin(database_url, unverified(admin["access_token"])[1]["sub"])
        admin = await log_in(auth_client, "warden")
        user_id = unverified(pair["access_token"])[1]["sub"]
        path = f"/api/v1/auth/admin/users/{user_id}/factors"
        assert (await auth_client.get(path, headers=bearer(admin))).json()["passkeys"] == 1
        removed = await auth_client.delete(path, headers=bearer(admin))
        assert removed.status_code == 204, removed.text
        assert (await auth_client.get(path, headers=bearer(admin))).json()["passkeys"] == 0
        refused = await passkey_login(auth_client, device)
        assert (refused.status_code, refused.json()["code"]) == (401, "invalid_passkey")
        login = await auth_client.post(
            "/api/v1/auth/login", json={"username": "lostkey", "password": PASSWORD}
        )
        assert login.status_code == 200
