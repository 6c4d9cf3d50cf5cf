"""The request's unit of work on the worker's one pool: what it commits, what it leaves behind
in the pool, and how many connections it takes."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import psycopg
import pytest
from sqlalchemy import text

from tessera_core.db.engine import Database
from tessera_core.db.models import User
from tessera_core.db.unit_of_work import UnitOfWork
from tessera_core.settings import Settings

INSERT_USER = (
    'INSERT INTO "user" (id, username, email, password_hash)'
    " VALUES (%(id)s, %(name)s, %(email)s, 'x')"
)
USER_EXISTS = 'SELECT count(*) AS n FROM "user" WHERE id = %(id)s'


@pytest.fixture
async def database(database_url: str, clean_state: None) -> AsyncIterator[Database]:
    """The services' pool, of one connection: whatever a unit of work leaves on it, the
    next one gets."""
    async with Database(Settings(database_url=database_url, database_pool_size=1)) as database:
        yield database


def reading(database: Database) -> UnitOfWork:
    return UnitOfWork(database, writes=False)


def writing(database: Database) -> UnitOfWork:
    return UnitOfWork(database, writes=True)


def insert(user_id: uuid.UUID, name: str) -> Callable[[UnitOfWork], Awaitable[object]]:
    row = {"id": user_id, "name": name, "email": f"{name}@example.com"}
    return lambda work: work.execute(INSERT_USER, row)


class HandlerFailed(Exception):
    pass


async def fail_after(work: UnitOfWork, *steps: Callable[[UnitOfWork], Awaitable[object]]) -> None:
    """Run ``steps`` in ``work``, then fail as a handler would after them."""
    async with work:
        for step in steps:
            await step(work)
        raise HandlerFailed


async def exists(database: Database, user_id: uuid.UUID) -> bool:
    async with reading(database) as work:
        row = await (await work.execute(USER_EXISTS, {"id": user_id})).fetchone()
    assert row is not None
    return bool(row["n"])


class TestWritingUnitOfWork:
    async def test_sql_and_the_session_share_one_transaction(self, database: Database):
        user_id = uuid.uuid4()
        async with writing(database) as work:
            await insert(user_id, "shared")(work)
            user = await work.session.get(User, user_id)
            assert user is not None
            assert user.username == "shared"
        assert await exists(database, user_id)

    async def test_an_error_rolls_back_every_statement(self, database: Database):
        user_id = uuid.uuid4()
        with pytest.raises(HandlerFailed):
            await fail_after(writing(database), insert(user_id, "rolled"))
        assert not await exists(database, user_id)

    async def test_execute_now_commits_whatever_the_transaction_does(self, database_url: str):
        # Two connections: the transaction's, and the one execute_now commits on.
        async with Database(Settings(database_url=database_url, database_pool_size=2)) as database:
            kept, dropped = uuid.uuid4(), uuid.uuid4()

            async def now(work: UnitOfWork) -> object:
                row = {"id": kept, "name": "kept", "email": "kept@example.com"}
                return await work.execute_now(INSERT_USER, row)

            with pytest.raises(HandlerFailed):
                await fail_after(writing(database), now, insert(dropped, "dropped"))
            assert await exists(database, kept)
            assert not await exists(database, dropped)


class TestReadingUnitOfWork:
    async def test_its_connection_goes_back_out_of_autocommit(self, database: Database):
        """A reading unit of work runs its SQL in autocommit on a pooled connection. Left in
        autocommit, the next writing unit of work on that connection would commit each
        statement at once, and its rollback would undo nothing."""
        async with reading(database) as work:
            await work.execute("SELECT 1", {})
        user_id = uuid.uuid4()

        async def orm_insert(work: UnitOfWork) -> object:
            return await work.session.execute(
                text(
                    'INSERT INTO "user" (id, username, email, password_hash)'
                    " VALUES (:id, 'leak', 'leak@example.com', 'x')"
                ),
                {"id": user_id},
            )

        with pytest.raises(HandlerFailed):
            await fail_after(writing(database), orm_insert)
        assert not await exists(database, user_id)

    async def test_a_session_write_raises(self, database: Database):
        async with reading(database) as work:
            work.session.add(User(username="nope", email="nope@example.com", password_hash="x"))
            with pytest.raises(RuntimeError, match="read-only"):
                await work.session.flush()

    async def test_a_statement_cancelled_mid_way_leaves_a_usable_pool(self, database: Database):
        """A client that goes away cancels its request inside a statement: that connection
        is not handed to the next request mid-statement."""

        async def slow(work: UnitOfWork) -> object:
            return await asyncio.wait_for(work.execute("SELECT pg_sleep(5)", {}), 0.2)

        with pytest.raises(TimeoutError):
            await fail_after(reading(database), slow)
        async with reading(database) as work:
            row = await (await asyncio.wait_for(work.execute("SELECT 1 AS one", {}), 2)).fetchone()
        assert row == {"one": 1}


class TestOnePool:
    async def test_concurrent_units_of_work_never_open_more_than_the_pool(self, database_url: str):
        separator = "&" if "?" in database_url else "?"
        tagged = f"{database_url}{separator}application_name=one-pool-test"
        async with Database(Settings(database_url=tagged, database_pool_size=3)) as database:

            async def busy() -> None:
                async with reading(database) as work:
                    await work.execute("SELECT pg_sleep(0.05)", {})
                async with writing(database) as work:
                    await work.session.execute(text("SELECT pg_sleep(0.05)"))

            await asyncio.gather(*(busy() for _ in range(12)))
            async with await psycopg.AsyncConnection.connect(
                database_url.replace("+psycopg", ""), autocommit=True
            ) as admin:
                backends = await (
                    await admin.execute(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE application_name = 'one-pool-test'"
                    )
                ).fetchone()
        assert backends == (3,)

    async def test_sessions_on_the_pool_do_not_pile_up_notice_handlers(
        self, database: Database, caplog: pytest.LogCaptureFixture
    ):
        """SQLAlchemy treats each connection it borrows as new and adds its notice handler
        to it; the pool takes it off again, or one notice would be logged once per borrow."""
        for _ in range(20):
            async with writing(database) as work:
                await work.session.execute(text("SELECT 1"))
        with caplog.at_level(logging.INFO, logger="sqlalchemy.dialects.postgresql"):
            async with writing(database) as work:
                await work.session.execute(text("DO $$ BEGIN RAISE NOTICE 'counted'; END $$"))
        assert [r.getMessage() for r in caplog.records].count("NOTICE: counted") == 1
