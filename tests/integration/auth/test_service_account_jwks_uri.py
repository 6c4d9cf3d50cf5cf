"""``private_key_jwt`` with keys registered by URL (``jwks_uri``), served by a real HTTP
server on 127.0.0.1 (``tests.fixtures.jwks_server``) that counts its requests: the
registration fetches and checks the set once (no redirects, a size cap, the address rules);
a grant uses the worker's cached set, refetches it at once for an unknown ``kid`` but at
most once per interval, shares one fetch among concurrent grants, keeps the stale set when
the server fails, and answers 401 ``invalid_client`` (never 500) when it has none."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from tessera_core.settings import Settings
from tests.fixtures.apps import ISSUER, SettingsFactory, running
from tests.fixtures.jwks_server import JwksServer

ACCOUNTS = "/api/v1/auth/admin/service-accounts"
TOKEN = "/api/v1/auth/token"
VERIFY = "/api/v1/auth/verify"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# How soon a kid the held set lacks may cause another fetch, and how long a set is fresh,
# here: short, so that the tests can wait them out.
REFETCH_INTERVAL = 1.0
CACHE_SECONDS = 2


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    return make_settings(
        outbound_allow=["127.0.0.1"],
        jwks_uri_cache_seconds=CACHE_SECONDS,
        jwks_uri_refetch_min_interval_seconds=REFETCH_INTERVAL,
    )


def ec_key(kid: str) -> ECKey:
    return ECKey.generate_key("P-256", parameters={"kid": kid}, private=True)


def public(key: ECKey) -> dict[str, Any]:
    return key.as_dict(private=False)


def assertion(key: ECKey, client_id: str, kid: str | None = None) -> str:
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": f"{ISSUER}{TOKEN}",
        "exp": now + 60,
        "iat": now,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode({"alg": "ES256", "kid": kid or key.kid}, claims, key)


async def grant(client: httpx.AsyncClient, signed: str) -> httpx.Response:
    return await client.post(
        TOKEN,
        data={
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": signed,
        },
    )


async def new_account(client: httpx.AsyncClient, admin_headers: dict[str, str]) -> dict[str, Any]:
    created = await client.post(
        ACCOUNTS, json={"name": "by-url", "scope": "users:read"}, headers=admin_headers
    )
    assert created.status_code == 201, created.text
    account: dict[str, Any] = created.json()
    return account


async def put_keys(
    client: httpx.AsyncClient, admin_headers: dict[str, str], account: dict[str, Any], body: Any
) -> httpx.Response:
    return await client.put(f"{ACCOUNTS}/{account['id']}/keys", json=body, headers=admin_headers)


async def account_with_url(
    client: httpx.AsyncClient, admin_headers: dict[str, str], server: JwksServer, key: ECKey
) -> dict[str, Any]:
    server.serve(public(key))
    account = await new_account(client, admin_headers)
    registered = await put_keys(client, admin_headers, account, {"jwks_uri": server.url()})
    assert registered.status_code == 200, registered.text
    return account


def refused(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]


class TestRegisterByUrl:
    async def test_the_url_is_fetched_once_and_shown(self, auth_client, admin_headers, jwks_server):
        account = await account_with_url(auth_client, admin_headers, jwks_server, ec_key("k1"))
        read = (await auth_client.get(f"{ACCOUNTS}/{account['id']}", headers=admin_headers)).json()
        assert (read["jwks_uri"], read["jwks"], read["keys_registered"]) == (
            jwks_server.url(),
            None,
            True,
        )
        listed = (await auth_client.get(ACCOUNTS, headers=admin_headers)).json()
        assert [a["jwks_uri"] for a in listed if a["id"] == account["id"]] == [jwks_server.url()]
        assert jwks_server.hits["/jwks"] == 1

    async def test_a_new_account_has_no_keys(self, auth_client, admin_headers):
        account = await new_account(auth_client, admin_headers)
        assert (account["jwks"], account["jwks_uri"], account["keys_registered"]) == (
            None,
            None,
            False,
        )

    @pytest.mark.parametrize(
        "body",
        [{}, {"jwks": {"keys": []}, "jwks_uri": "https://keys.example.com/jwks"}],
        ids=["neither", "both"],
    )
    async def test_exactly_one_of_jwks_and_jwks_uri(self, auth_client, admin_headers, body):
        account = await new_account(auth_client, admin_headers)
        response = await put_keys(auth_client, admin_headers, account, body)
        assert (response.status_code, response.json()["code"]) == (422, "validation_failed")
        assert "exactly one of jwks and jwks_uri" in response.json()["errors"][0]["message"]

    async def test_a_url_postgresql_could_not_store_is_a_validation_error(
        self, auth_client, admin_headers, jwks_server
    ):
        account = await new_account(auth_client, admin_headers)
        url = jwks_server.url("/jwks\u0000")
        response = await put_keys(auth_client, admin_headers, account, {"jwks_uri": url})
        assert (response.status_code, response.json()["code"]) == (422, "validation_failed")
        assert sum(jwks_server.hits.values()) == 0

    @pytest.mark.parametrize(
        "url",
        [
            "http://keys.example.com/jwks",
            "ftp://127.0.0.1/jwks",
            "https://user:pw@keys.example.com/jwks",
            "not a url",
        ],
    )
    async def test_anything_but_https_or_loopback_http_is_refused(
        self, auth_client, admin_headers, jwks_server, url
    ):
        account = await new_account(auth_client, admin_headers)
        response = await put_keys(auth_client, admin_headers, account, {"jwks_uri": url})
        assert (response.status_code, response.json()["code"]) == (422, "invalid_jwks_uri")
        assert sum(jwks_server.hits.values()) == 0

    @pytest.mark.parametrize(
        ("path", "detail"),
        [
            ("/redirect", "answered 302 (redirects are not followed)"),
            ("/big", "more than 65536 bytes"),
            ("/big-unsized", "more than 65536 bytes"),
            ("/not-json", "not JSON"),
            ("/missing-server", "could not connect"),
        ],
    )
    async def test_a_url_without_a_usable_answer_is_unreachable(
        self, auth_client, admin_headers, jwks_server, path, detail
    ):
        jwks_server.serve(public(ec_key("k1")))
        account = await new_account(auth_client, admin_headers)
        url = jwks_server.url(path)
        if path == "/missing-server":
            jwks_server.stop()
        response = await put_keys(auth_client, admin_headers, account, {"jwks_uri": url})
        assert (response.status_code, response.json()["code"]) == (422, "jwks_uri_unreachable")
        assert detail in response.json()["detail"]
        # The redirect's target, a valid set, was never asked for.
        assert jwks_server.hits["/jwks"] == 0
        read = (await auth_client.get(f"{ACCOUNTS}/{account['id']}", headers=admin_headers)).json()
        assert read["keys_registered"] is False

    async def test_a_server_error_is_unreachable(self, auth_client, admin_headers, jwks_server):
        jwks_server.failing = True
        account = await new_account(auth_client, admin_headers)
        response = await put_keys(
            auth_client, admin_headers, account, {"jwks_uri": jwks_server.url()}
        )
        assert (response.status_code, response.json()["code"]) == (422, "jwks_uri_unreachable")
        assert "answered 503" in response.json()["detail"]

    @pytest.mark.parametrize(
        "served",
        [
            [ec_key("k1").as_dict(private=True)],
            [],
            [{"kty": "oct", "k": "c2VjcmV0", "kid": "h"}],
        ],
        ids=["private", "empty", "symmetric"],
    )
    async def test_a_url_serving_no_public_set_is_invalid_jwks(
        self, auth_client, admin_headers, jwks_server, served
    ):
        jwks_server.serve(*served)
        account = await new_account(auth_client, admin_headers)
        response = await put_keys(
            auth_client, admin_headers, account, {"jwks_uri": jwks_server.url()}
        )
        assert (response.status_code, response.json()["code"]) == (422, "invalid_jwks")

    async def test_loopback_is_refused_unless_allowed(
        self, make_settings, auth_client, admin_headers, jwks_server
    ):
        from tessera_auth.app import create_app

        jwks_server.serve(public(ec_key("k1")))
        account = await new_account(auth_client, admin_headers)
        async with running(create_app(make_settings())) as strict:
            response = await put_keys(
                strict, admin_headers, account, {"jwks_uri": jwks_server.url()}
            )
        assert (response.status_code, response.json()["code"]) == (422, "jwks_uri_unreachable")
        assert "127.0.0.1, a loopback address" in response.json()["detail"]
        assert sum(jwks_server.hits.values()) == 0

    async def test_a_url_and_a_set_replace_each_other(
        self, auth_client, admin_headers, jwks_server
    ):
        old = ec_key("k1")
        account = await new_account(auth_client, admin_headers)
        by_set = await put_keys(
            auth_client, admin_headers, account, {"jwks": {"keys": [public(old)]}}
        )
        assert by_set.status_code == 200
        token = (await grant(auth_client, assertion(old, account["client_id"]))).json()
        new = ec_key("k2")
        jwks_server.serve(public(new))
        by_url = await put_keys(
            auth_client, admin_headers, account, {"jwks_uri": jwks_server.url()}
        )
        assert (by_url.json()["jwks"], by_url.json()["jwks_uri"]) == (None, jwks_server.url())
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        assert (await auth_client.get(VERIFY, headers=headers)).status_code == 401
        assert refused(await grant(auth_client, assertion(old, account["client_id"]))) == (
            401,
            "invalid_client",
        )
        url_token = await grant(auth_client, assertion(new, account["client_id"]))
        assert url_token.status_code == 200, url_token.text
        back = await put_keys(
            auth_client, admin_headers, account, {"jwks": {"keys": [public(old)]}}
        )
        assert (back.json()["jwks_uri"], back.json()["keys_registered"]) == (None, True)
        headers = {"Authorization": f"Bearer {url_token.json()['access_token']}"}
        assert (await auth_client.get(VERIFY, headers=headers)).status_code == 401

    async def test_the_table_refuses_both(
        self, auth_client, admin_headers, jwks_server, db_engine: AsyncEngine
    ):
        account = await account_with_url(auth_client, admin_headers, jwks_server, ec_key("k1"))
        with pytest.raises(IntegrityError, match="ck_service_account_one_key_source"):
            async with db_engine.begin() as conn:
                await conn.execute(
                    text("UPDATE service_account SET jwks = '{\"keys\": []}' WHERE user_id = :id"),
                    {"id": account["id"]},
                )

    async def test_the_document_names_the_errors(self, auth_client):
        paths = (await auth_client.get("/api/v1/auth/openapi.json")).json()["paths"]
        put = paths["/api/v1/auth/admin/service-accounts/{account_id}/keys"]["put"]
        described = put["responses"]["422"]["description"]
        for code in ("invalid_jwks", "invalid_jwks_uri", "jwks_uri_unreachable"):
            assert f"`{code}`" in described


class TestGrantWithUrlKeys:
    async def test_an_assertion_signed_by_the_served_key_gets_a_token(
        self, auth_client, admin_headers, jwks_server
    ):
        key = ec_key("k1")
        account = await account_with_url(auth_client, admin_headers, jwks_server, key)
        response = await grant(auth_client, assertion(key, account["client_id"]))
        assert response.status_code == 200, response.text
        verified = await auth_client.get(
            VERIFY, headers={"Authorization": f"Bearer {response.json()['access_token']}"}
        )
        assert verified.headers["x-auth-user-id"] == account["id"]
        # The registration's fetch is the worker's cached set: no second request.
        assert jwks_server.hits["/jwks"] == 1

    async def test_a_rotated_key_works_without_waiting_for_the_cache(
        self, auth_client, admin_headers, jwks_server
    ):
        old = ec_key("k1")
        account = await account_with_url(auth_client, admin_headers, jwks_server, old)
        assert (await grant(auth_client, assertion(old, account["client_id"]))).status_code == 200
        new = ec_key("k2")
        jwks_server.serve(public(new))
        await asyncio.sleep(REFETCH_INTERVAL + 0.05)  # the cache's age is still under its TTL
        response = await grant(auth_client, assertion(new, account["client_id"]))
        assert response.status_code == 200, response.text
        assert jwks_server.hits["/jwks"] == 2
        # The set fetched holds k2 only: k1 is gone.
        gone = await grant(auth_client, assertion(old, account["client_id"]))
        assert refused(gone) == (401, "invalid_client")

    async def test_unknown_kids_refetch_at_most_once_per_interval(
        self, auth_client, admin_headers, jwks_server
    ):
        key = ec_key("k1")
        account = await account_with_url(auth_client, admin_headers, jwks_server, key)
        await asyncio.sleep(REFETCH_INTERVAL + 0.05)
        forged = ec_key("x")
        first = await grant(auth_client, assertion(forged, account["client_id"], kid="bogus-1"))
        assert refused(first) == (401, "invalid_client")
        assert jwks_server.hits["/jwks"] == 2
        for kid in ("bogus-2", "bogus-3", "bogus-4"):
            again = await grant(auth_client, assertion(forged, account["client_id"], kid=kid))
            assert refused(again) == (401, "invalid_client")
        assert jwks_server.hits["/jwks"] == 2
        # The known key still works, from the held set.
        assert (await grant(auth_client, assertion(key, account["client_id"]))).status_code == 200
        assert jwks_server.hits["/jwks"] == 2

    async def test_a_warm_cache_outlives_the_server(self, auth_client, admin_headers, jwks_server):
        key = ec_key("k1")
        account = await account_with_url(auth_client, admin_headers, jwks_server, key)
        jwks_server.failing = True
        await asyncio.sleep(CACHE_SECONDS + 0.1)  # the held set is now stale
        response = await grant(auth_client, assertion(key, account["client_id"]))
        assert response.status_code == 200, response.text
        assert jwks_server.hits["/jwks"] == 2  # the refetch was tried, answered 503

    async def test_no_cache_and_no_server_is_invalid_client(
        self, auth_app, settings, auth_client, admin_headers, jwks_server
    ):
        from tessera_auth.app import create_app

        key = ec_key("k1")
        account = await account_with_url(auth_client, admin_headers, jwks_server, key)
        jwks_server.stop()
        # Another worker: its cache is cold.
        async with running(create_app(settings)) as other:
            response = await grant(other, assertion(key, account["client_id"]))
        assert refused(response) == (401, "invalid_client")
        assert "could not be fetched" in response.json()["error_description"]

    async def test_the_addresses_are_checked_at_each_fetch(
        self, make_settings, auth_client, admin_headers, jwks_server
    ):
        from tessera_auth.app import create_app

        key = ec_key("k1")
        account = await account_with_url(auth_client, admin_headers, jwks_server, key)
        # A worker whose settings no longer allow loopback: registered, yet not fetched.
        async with running(create_app(make_settings())) as strict:
            response = await grant(strict, assertion(key, account["client_id"]))
        assert refused(response) == (401, "invalid_client")
        assert jwks_server.hits["/jwks"] == 1

    async def test_concurrent_grants_on_a_cold_cache_fetch_once(
        self, settings, auth_client, admin_headers, jwks_server
    ):
        from tessera_auth.app import create_app

        key = ec_key("k1")
        account = await account_with_url(auth_client, admin_headers, jwks_server, key)
        jwks_server.delay = 0.3  # every grant arrives while the one fetch is under way
        async with running(create_app(settings)) as cold:
            responses = await asyncio.gather(
                *(grant(cold, assertion(key, account["client_id"])) for _ in range(20))
            )
        assert [r.status_code for r in responses] == [200] * 20
        assert jwks_server.hits["/jwks"] == 2  # the registration's, and one for all twenty
