"""How the admin listing reads its query string: as Starlette does, the token checked first."""

from __future__ import annotations

import httpx

USERS = "/api/v1/users"


class TestListingQuery:
    async def test_a_repeated_name_counts_its_last_value(
        self, users_client: httpx.AsyncClient, admin_headers
    ):
        response = await users_client.get(f"{USERS}?limit=0&limit=1", headers=admin_headers)
        assert response.status_code == 200
        assert len(response.json()["items"]) == 1

    async def test_unknown_names_are_ignored(self, users_client: httpx.AsyncClient, admin_headers):
        response = await users_client.get(f"{USERS}?limit=1&page=7", headers=admin_headers)
        assert response.status_code == 200

    async def test_without_a_token_an_invalid_query_is_still_401(
        self, users_client: httpx.AsyncClient
    ):
        response = await users_client.get(f"{USERS}?limit=x")
        assert response.status_code == 401

    async def test_a_blank_filter_is_a_422(self, users_client: httpx.AsyncClient, admin_headers):
        response = await users_client.get(f"{USERS}?is_active=", headers=admin_headers)
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "is_active"
