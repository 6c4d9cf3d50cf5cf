"""``private_key_jwt`` (RFC 7523) for service accounts: registering public keys (private or
symmetric ones refused), a good client assertion getting a token of the keys' session, and
every bad one refused as ``invalid_client``: wrong key, wrong audience, a replayed ``jti``,
expired or too long-lived, ``alg`` none or HS256, ``iss`` not the client. Replacing the keys
revokes the tokens the old ones obtained."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey

from tests.fixtures.apps import ISSUER

ACCOUNTS = "/api/v1/auth/admin/service-accounts"
TOKEN = "/api/v1/auth/token"
VERIFY = "/api/v1/auth/verify"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_URL = f"{ISSUER}/api/v1/auth/token"


def ec_key(kid: str = "k1") -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": kid}, private=True)


def assertion(key: Any, client_id: str, alg: str = "ES256", **claims: Any) -> str:
    now = int(time.time())
    body = {
        "iss": client_id,
        "sub": client_id,
        "aud": TOKEN_URL,
        "exp": now + 60,
        "iat": now,
        "jti": uuid.uuid4().hex,
        **claims,
    }
    return jwt.encode({"alg": alg, "kid": "k1"}, body, key)


def unsigned(client_id: str) -> str:
    def part(obj: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": TOKEN_URL, "exp": now + 60, "jti": "n"}
    return f"{part({'alg': 'none', 'kid': 'k1'})}.{part(claims)}."


async def account_with_key(
    client: httpx.AsyncClient, admin_headers: dict[str, str], key: ECKey
) -> dict[str, Any]:
    created = await client.post(
        ACCOUNTS, json={"name": "signer", "scope": "users:read"}, headers=admin_headers
    )
    assert created.status_code == 201, created.text
    account: dict[str, Any] = created.json()
    registered = await client.put(
        f"{ACCOUNTS}/{account['id']}/keys",
        json={"jwks": {"keys": [key.as_dict(private=False)]}},
        headers=admin_headers,
    )
    assert registered.status_code == 200, registered.text
    return account


async def grant(client: httpx.AsyncClient, signed: str, **form: str) -> httpx.Response:
    return await client.post(
        TOKEN,
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": signed,
            **form,
        },
    )


class TestRegisterKeys:
    async def test_the_public_keys_are_shown(self, auth_client, admin_headers):
        key = ec_key()
        account = await account_with_key(auth_client, admin_headers, key)
        read = (await auth_client.get(f"{ACCOUNTS}/{account['id']}", headers=admin_headers)).json()
        assert read["jwks"] == {"keys": [key.as_dict(private=False)]}

    @pytest.mark.parametrize(
        "jwks",
        [
            {"keys": [ec_key().as_dict(private=True)]},
            {"keys": [OctKey.generate_key(256).as_dict()]},
            {"keys": []},
            {"nope": 1},
        ],
        ids=["private", "symmetric", "empty", "not-a-set"],
    )
    async def test_anything_but_public_asymmetric_keys_is_refused(
        self, auth_client, admin_headers, jwks
    ):
        created = await auth_client.post(
            ACCOUNTS, json={"name": "x", "scope": "users:read"}, headers=admin_headers
        )
        response = await auth_client.put(
            f"{ACCOUNTS}/{created.json()['id']}/keys", json={"jwks": jwks}, headers=admin_headers
        )
        assert (response.status_code, response.json()["code"]) == (422, "invalid_jwks")

    async def test_a_non_admin_is_refused(self, auth_client, auth_headers):
        response = await auth_client.put(
            f"{ACCOUNTS}/{uuid.uuid4()}/keys",
            json={"jwks": {"keys": [ec_key().as_dict(private=False)]}},
            headers=auth_headers,
        )
        assert (response.status_code, response.json()["code"]) == (403, "forbidden")


class TestPrivateKeyJwt:
    async def test_a_good_assertion_gets_a_token(self, auth_client, admin_headers):
        key = ec_key()
        account = await account_with_key(auth_client, admin_headers, key)
        response = await grant(auth_client, assertion(key, account["client_id"]))
        assert response.status_code == 200, response.text
        body = response.json()
        assert "refresh_token" not in body
        assert body["scope"] == "users:read"
        verified = await auth_client.get(
            VERIFY, headers={"Authorization": f"Bearer {body['access_token']}"}
        )
        assert verified.status_code == 200
        assert verified.headers["x-auth-user-id"] == account["id"]

    async def test_the_issuer_as_audience_works_too(self, auth_client, admin_headers):
        key = ec_key()
        account = await account_with_key(auth_client, admin_headers, key)
        response = await grant(auth_client, assertion(key, account["client_id"], aud=ISSUER))
        assert response.status_code == 200, response.text

    async def test_a_replayed_assertion_is_refused(self, auth_client, admin_headers):
        key = ec_key()
        account = await account_with_key(auth_client, admin_headers, key)
        signed = assertion(key, account["client_id"])
        assert (await grant(auth_client, signed)).status_code == 200
        replayed = await grant(auth_client, signed)
        assert (replayed.status_code, replayed.json()["error"]) == (401, "invalid_client")

    @pytest.mark.parametrize(
        "case",
        ["wrong-key", "wrong-aud", "expired", "too-long", "no-exp", "no-jti", "other-sub"],
    )
    async def test_a_bad_assertion_is_invalid_client(self, auth_client, admin_headers, case):
        key = ec_key()
        account = await account_with_key(auth_client, admin_headers, key)
        client_id = account["client_id"]
        now = int(time.time())
        signed = {
            "wrong-key": lambda: assertion(ec_key(), client_id),
            "wrong-aud": lambda: assertion(key, client_id, aud="https://elsewhere.test/token"),
            "expired": lambda: assertion(key, client_id, exp=now - 5),
            "too-long": lambda: assertion(key, client_id, exp=now + 3600),
            "no-exp": lambda: assertion(key, client_id, exp=None),
            "no-jti": lambda: assertion(key, client_id, jti=None),
            "other-sub": lambda: assertion(key, client_id, sub="sa-someone-else"),
        }[case]()
        response = await grant(auth_client, signed)
        assert (response.status_code, response.json()["error"]) == (401, "invalid_client")

    async def test_alg_none_and_hs256_are_refused(self, auth_client, admin_headers):
        key = ec_key()
        account = await account_with_key(auth_client, admin_headers, key)
        hmac = OctKey.import_key(b"x" * 32)
        for signed in (
            unsigned(account["client_id"]),
            assertion(hmac, account["client_id"], alg="HS256"),
        ):
            response = await grant(auth_client, signed)
            assert (response.status_code, response.json()["error"]) == (401, "invalid_client")

    async def test_an_account_without_keys_is_invalid_client(self, auth_client, admin_headers):
        created = await auth_client.post(
            ACCOUNTS, json={"name": "x", "scope": "users:read"}, headers=admin_headers
        )
        signed = assertion(ec_key(), created.json()["client_id"])
        response = await grant(auth_client, signed)
        assert (response.status_code, response.json()["error"]) == (401, "invalid_client")

    async def test_a_wrong_assertion_type_is_invalid_request(self, auth_client, admin_headers):
        key = ec_key()
        account = await account_with_key(auth_client, admin_headers, key)
        response = await grant(
            auth_client,
            assertion(key, account["client_id"]),
            client_assertion_type="urn:example:other",
        )
        assert (response.status_code, response.json()["error"]) == (400, "invalid_request")

    async def test_replacing_the_keys_revokes_the_old_keys_tokens(self, auth_client, admin_headers):
        old = ec_key()
        account = await account_with_key(auth_client, admin_headers, old)
        token = (await grant(auth_client, assertion(old, account["client_id"]))).json()
        new = ec_key()
        replaced = await auth_client.put(
            f"{ACCOUNTS}/{account['id']}/keys",
            json={"jwks": {"keys": [new.as_dict(private=False)]}},
            headers=admin_headers,
        )
        assert replaced.status_code == 200
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        assert (await auth_client.get(VERIFY, headers=headers)).status_code == 401
        refused = await grant(auth_client, assertion(old, account["client_id"]))
        assert refused.status_code == 401
        assert (await grant(auth_client, assertion(new, account["client_id"]))).status_code == 200
