"""The database work of the hot paths, counted: statements per refresh, and no
transaction for a request that only reads."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import event

from tests.fixtures.apps import bearer, lifespan_state


@contextmanager
def statements(app: Any) -> Iterator[list[tuple[str, bool]]]:
    """Every statement the app's engine sends, with whether it ran in autocommit mode."""
    engine = lifespan_state(app)["core"].engine.sync_engine
    seen: list[tuple[str, bool]] = []

    def record(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        seen.append((statement.split()[0].upper(), conn.connection.dbapi_connection.autocommit))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


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
        assert [kind for kind, _ in seen] == ["SELECT", "WITH"]
        assert not any(autocommit for _, autocommit in seen)


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
        assert all(kind == "SELECT" and autocommit for kind, autocommit in seen), seen
