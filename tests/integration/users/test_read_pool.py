"""The caller of a GET and the admin listing's page are read on the read pool: prepared
queries, no ORM session, and the same verdicts as the session's lookup."""

from __future__ import annotations

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.fixtures.apps import bearer, lifespan_state
from tests.integration.auth.test_round_trips import statements

ME = "/api/v1/users/me"


async def engine_statements(
    app, client: httpx.AsyncClient, path: str, tokens, *, pool_checkouts: int
) -> list[str]:
    """One GET of ``path``: the statements SQLAlchemy's engine sent for it, after
    asserting how many connections the read pool served it."""
    # The first token check after Redis was emptied re-asserts the fast path (its own
    # reads, in a transaction); measure a request after it.
    assert (await client.get(ME, headers=bearer(tokens))).is_success
    pool = lifespan_state(app)["core"].read_pool
    before = pool.get_stats()["requests_num"]
    with statements(app) as seen:
        response = await client.get(path, headers=bearer(tokens))
    assert response.status_code == 200, response.text
    assert pool.get_stats()["requests_num"] == before + pool_checkouts
    return [s.kind for s in seen if not s.plain]


async def test_me_reads_the_caller_on_the_read_pool(
    users_app, users_client: httpx.AsyncClient, user_tokens
):
    seen = await engine_statements(users_app, users_client, ME, user_tokens, pool_checkouts=1)
    assert seen == []  # nothing through SQLAlchemy's engine


async def test_the_admin_listing_reads_its_caller_and_its_page_there_too(
    users_app, users_client: httpx.AsyncClient, admin_tokens
):
    path = "/api/v1/users?limit=2&include_total=true"
    seen = await engine_statements(users_app, users_client, path, admin_tokens, pool_checkouts=3)
    assert seen == []  # the caller, the page and the count: nothing through the engine


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
