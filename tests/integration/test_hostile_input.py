"""Strings PostgreSQL refuses (NUL, unpaired surrogates) and bodies that are not JSON:
every one is a 422 (400 invalid_request on the OAuth endpoints), never a 500."""

from __future__ import annotations

import httpx
import pytest

from tests.fixtures.apps import PASSWORD

NUL = "al\x00ice"


# Raw bodies: httpx's json= cannot encode a lone surrogate; JSON's \\u escape carries it.
@pytest.mark.parametrize(
    "body",
    [
        b'{"username": "al\\u0000ice", "password": "x"}',
        b'{"username": "al\\ud800ice", "password": "x"}',
        b'{"username": "alice", "password": "p\\udfffw"}',
        b"\xff\xfe{not json",
    ],
    ids=["nul-username", "surrogate-username", "surrogate-password", "not-utf8"],
)
async def test_login(auth_client: httpx.AsyncClient, body: bytes):
    response = await auth_client.post(
        "/api/v1/auth/login", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_failed"


@pytest.mark.parametrize("field", ["username", "email", "nickname", "password"])
async def test_register(auth_client: httpx.AsyncClient, field: str):
    body = {"username": "mallory", "email": "m@example.com", "password": PASSWORD, "nickname": ""}
    body[field] = f"{body[field]}\x00"
    response = await auth_client.post("/api/v1/auth/register", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == field


@pytest.mark.parametrize("field", ["username", "password", "refresh_token"])
async def test_token_endpoint(auth_client: httpx.AsyncClient, field: str):
    form = {
        "grant_type": "refresh_token" if field == "refresh_token" else "password",
        "username": "alice",
        "password": "x",
        "refresh_token": "r",
        field: NUL,
    }
    response = await auth_client.post("/api/v1/auth/token", data=form)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"


async def test_refresh(auth_client: httpx.AsyncClient):
    response = await auth_client.post(
        "/api/v1/auth/refresh",
        content=b'{"refresh_token": "\\ud800"}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422


async def test_profile_update(users_client: httpx.AsyncClient, auth_headers):
    response = await users_client.patch(
        "/api/v1/users/me", headers=auth_headers, json={"nickname": NUL}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "nickname"


@pytest.mark.parametrize("param", ["search", "cursor"])
async def test_listing_query(users_client: httpx.AsyncClient, admin_headers, param: str):
    response = await users_client.get("/api/v1/users", headers=admin_headers, params={param: NUL})
    assert response.status_code == 422, response.text
