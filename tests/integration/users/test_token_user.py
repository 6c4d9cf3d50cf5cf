"""The caller behind a token is their row as it is now: a row changed behind the token
counts at once, and ``/me`` answers the table's values."""

from __future__ import annotations

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.fixtures.apps import bearer

ME = "/api/v1/users/me"


async def test_a_row_deactivated_behind_the_token_is_refused(
    users_client: httpx.AsyncClient, user_tokens, user, database_url
):
    engine = create_async_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text('UPDATE "user" SET is_active = false WHERE id = :id'), {"id": user["id"]}
            )
    finally:
        await engine.dispose()
    response = await users_client.get(ME, headers=bearer(user_tokens))
    assert response.status_code == 401
    assert response.json()["code"] == "token_revoked"


async def test_the_row_it_returns_is_the_row_in_the_table(
    users_client: httpx.AsyncClient, user_tokens, user
):
    body = (await users_client.get(ME, headers=bearer(user_tokens))).json()
    assert body["id"] == user["id"]
    assert body["username"] == user["username"]
    assert body["date_joined"] == user["date_joined"]
