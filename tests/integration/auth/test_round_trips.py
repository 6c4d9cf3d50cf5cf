"""The database work of the hot paths, counted: statements per refresh, and no
transaction for a request that only reads."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import httpx
import psycopg
from psycopg.pq import TransactionStatus
from sqlalchemy import event

from tests.fixtures.apps import bearer, lifespan_state


class Statement(NamedTuple):
    kind: str  # the first word: SELECT, WITH, ...
    autocommit: bool  # ran outside a transaction
    plain: bool  # on a plain psycopg connection (the read pool, the refresh hot path)


@contextmanager
def statements(app: Any) -> Iterator[list[Statement]]:
    """Every statement the app sends, through its engine or on a plain psycopg connection."""
    engine = lifespan_state(app)["core"].engine.sync_engine
    seen: list[Statement] = []

    def record(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        autocommit = conn.connection.dbapi_connection.autocommit
        seen.append(Statement(statement.split()[0].upper(), autocommit, plain=False))

    plain_execute = psycopg.AsyncConnection.execute

    async def record_plain(conn: psycopg.AsyncConnection[Any], query: Any, *args: Any) -> Any:
        outside = conn.info.transaction_status == TransactionStatus.IDLE
        seen.append(Statement(str(query).split()[0].upper(), outside, plain=True))
        return await plain_execute(conn, query, *args)

    psycopg.AsyncConnection.execute = record_plain  # type: ignore[method-assign, assignment]
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)
        psycopg.AsyncConnection.execute = plain_execute  # type: ignore[method-assign]


class TestRefresh:
    async def test_two_statements_in_one_transaction(
        self, auth_app, auth_client: httpx.AsyncClient, user_tokens
    ):
        """Lock the token with its session and user (one SELECT ... FOR UPDATE), then spend
        it, touch the session and insert the next one (one WITH ... INSERT): the fewest
        that keep rotation and reuse detection race-safe."""
        assert (
            await auth_client.get("/api/v1/auth/verify", headers=bearer(user_tokens))
        ).is_success
        with statements(auth_app) as seen:
            response = await auth_client.post(
                "/api/v1/auth/refresh", json={"refresh_token": user_tokens["refresh_token"]}
            )
        assert response.status_code == 200
        assert [s.kind for s in seen] == ["SELECT", "WITH"]
        assert not any(s.autocommit for s in seen)
        assert all(s.plain for s in seen)  # answered by RefreshHotPath, not the route


class TestReads:
    async def test_a_get_runs_without_a_transaction(
        self, auth_app, auth_client: httpx.AsyncClient, user_tokens
    ):
        # The first token check after Redis was emptied re-asserts the fast path (its own
        # reads); measure the request alone.
        assert (
            await auth_client.get("/api/v1/auth/verify", headers=bearer(user_tokens))
        ).is_success
        with statements(auth_app) as seen:
            response = await auth_client.get("/api/v1/auth/sessions", headers=bearer(user_tokens))
        assert response.status_code == 200
        assert seen
        assert all(s.kind == "SELECT" and s.autocommit for s in seen), seen
