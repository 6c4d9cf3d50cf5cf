"""The listing's queries on a seeded table: index scans for every ordering, filter and
search, never a sequential scan of "user", never an OFFSET."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from tessera_core.accounts.listing import Ordering, Position, UserFilters, page_statement
from tests.fixtures.users import FAKE_HASH

SEEDED = 20_000
ORDERINGS: list[Ordering] = ["date_joined", "-date_joined", "username", "-username"]
MIDDLE: dict[str, Position] = {
    "date_joined": (datetime(2026, 1, 1, tzinfo=UTC), uuid.UUID(int=2**127)),
    "username": ("user10000",),
}


@pytest.fixture(scope="module")
async def seeded(db_engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    """20k users (20 of them service accounts), seeded once for the module and removed after it; VACUUM flushes the GIN pending list
    as autovacuum would (other tests empty the
    tables themselves, through ``clean_state``)."""
    async with db_engine.begin() as conn:
        await conn.execute(text('TRUNCATE "user" CASCADE'))
        await conn.execute(
            text(
                'INSERT INTO "user" (id, username, email, password_hash, nickname, '
                "date_joined, is_active, is_admin, is_service) "
                "SELECT gen_random_uuid(), 'user' || i, 'user' || i || '@example.com', :hash, "
                "'nick' || (i % 500), timestamptz '2025-01-01' + make_interval(mins => i), "
                "i % 100 <> 0, i % 5000 = 0, i % 1000 = 7 FROM generate_series(1, :n) AS i"
            ),
            {"hash": FAKE_HASH, "n": SEEDED},
        )
    async with db_engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text('VACUUM ANALYZE "user"'))
    yield db_engine
    async with db_engine.begin() as conn:
        await conn.execute(text('TRUNCATE "user" CASCADE'))


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


async def _plan(
    engine: AsyncEngine, filters: UserFilters, ordering: Ordering, after: Position | None
) -> tuple[str, list[dict[str, Any]]]:
    async with AsyncSession(engine) as session:
        statement = page_statement(filters, ordering, after, 21)
        compiled = statement.compile(dialect=postgresql.psycopg.dialect())
        sql = str(compiled)
        conn = await session.connection()
        result = await conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {sql}", compiled.params)
        document = result.scalar_one()
    return sql, list(_nodes(document[0]["Plan"]))


def _assert_indexed(sql: str, nodes: list[dict[str, Any]]) -> None:
    assert "OFFSET" not in sql.upper()
    seq_scans = [
        n for n in nodes if n["Node Type"] == "Seq Scan" and n.get("Relation Name") == "user"
    ]
    assert not seq_scans, nodes
    assert any("Index" in n["Node Type"] for n in nodes), nodes


CASES = [
    pytest.param(UserFilters(), id="all"),
    pytest.param(UserFilters(is_admin=True), id="admins"),
    pytest.param(UserFilters(is_active=False), id="inactive"),
    pytest.param(UserFilters(is_active=True, is_admin=False), id="active-non-admins"),
    pytest.param(UserFilters(is_service=True), id="service-accounts"),
    pytest.param(UserFilters(is_service=False), id="people"),
    pytest.param(UserFilters(is_service=True, is_active=True), id="active-service-accounts"),
]


class TestListingPlan:
    @pytest.mark.parametrize("filters", CASES)
    @pytest.mark.parametrize("ordering", ORDERINGS)
    @pytest.mark.parametrize("deep", [False, True], ids=["first-page", "deep-page"])
    async def test_every_ordering_is_an_index_scan(
        self, seeded: AsyncEngine, filters: UserFilters, ordering: Ordering, deep: bool
    ):
        after = MIDDLE[ordering.lstrip("-")] if deep else None
        sql, nodes = await _plan(seeded, filters, ordering, after)
        _assert_indexed(sql, nodes)
        assert nodes[0]["Node Type"] == "Limit"

    @pytest.mark.parametrize("ordering", ORDERINGS)
    @pytest.mark.parametrize("term", ["user1234", "NICK42", "@example", "9999@"])
    async def test_search_is_an_index_scan(
        self, seeded: AsyncEngine, ordering: Ordering, term: str
    ):
        sql, nodes = await _plan(seeded, UserFilters(search=term), ordering, None)
        _assert_indexed(sql, nodes)

    @pytest.mark.parametrize("term", ["user1234", "NICK42", "9999@"])
    async def test_selective_search_uses_the_trigram_index(self, seeded: AsyncEngine, term: str):
        _, nodes = await _plan(seeded, UserFilters(search=term), "username", None)
        used = {n.get("Index Name") for n in nodes if n["Node Type"] == "Bitmap Index Scan"}
        assert used == {"ix_user_search_trgm"}
