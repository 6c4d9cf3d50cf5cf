"""A request's one way into the database: ``UnitOfWork``, on the worker's one pool."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any

from psycopg import AsyncConnection, AsyncCursor
from psycopg.rows import dict_row
from sqlalchemy.ext.asyncio import AsyncSession

from tessera_core.db.engine import Database, run_after_commit_hooks

__all__ = ["Row", "UnitOfWork"]

Row = dict[str, Any]
_CheckedOut = tuple[AbstractAsyncContextManager[AsyncConnection[Any]], AsyncConnection[Any]]


class UnitOfWork:
    """One request's work with the database, through the worker's one pool (``Database``):
    an ORM session (``session``) for the rows it handles as objects, and ``execute`` for
    the statements written as SQL.

    A unit of work that ``writes`` (every method but GET and HEAD) is one transaction:
    ``execute`` runs on the session's own connection inside it, and ``__aexit__`` commits
    once, then runs the ``after_commit`` hooks, or rolls back on any error. One that only
    reads has no transaction at all: its session is in autocommit (a flush raises), and its
    statements run on one pooled connection in autocommit, checked out at the first and
    given back at the end. ``execute_now`` commits a statement on its own whichever it is
    (refresh's rotation, which must hold no transaction). Nothing is checked out until used.
    """

    __slots__ = ("_autocommit", "_factory", "_pool", "_session", "writes")

    def __init__(self, database: Database, *, writes: bool) -> None:
        self._pool = database.pool
        self._factory = database.session_factory if writes else database.read_session_factory
        self.writes = writes
        self._session: AsyncSession | None = None
        self._autocommit: _CheckedOut | None = None

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            self._session = self._factory()
        return self._session

    async def execute(self, query: str, params: Mapping[str, Any]) -> AsyncCursor[Row]:
        """Run ``query`` in this unit of work (its transaction, if it has one); rows as
        dicts. psycopg prepares a query once it has run five times on a connection."""
        if self.writes:
            connection = await self.session.connection()
            driver = (await connection.get_raw_connection()).driver_connection
            assert isinstance(driver, AsyncConnection)
            cursor = driver.cursor(row_factory=dict_row)
            return await cursor.execute(query, params)
        return await self.execute_now(query, params)

    async def execute_now(self, query: str, params: Mapping[str, Any]) -> AsyncCursor[Row]:
        """Run ``query`` committed on its own, outside any transaction of this unit of
        work, on its one autocommit connection: a second connection if its session holds
        one, so a route uses one or the other (refresh uses only this)."""
        if self._autocommit is None:
            context = self._pool.connection()
            self._autocommit = (context, await context.__aenter__())
        cursor = self._autocommit[1].cursor(row_factory=dict_row)
        return await cursor.execute(query, params)

    async def __aenter__(self) -> UnitOfWork:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if self._session is not None:
                await self._finish_session(failed=exc is not None)
        finally:
            if self._autocommit is not None:
                context, self._autocommit = self._autocommit[0], None
                await context.__aexit__(exc_type, exc, traceback)

    async def _finish_session(self, *, failed: bool) -> None:
        session, self._session = self._session, None
        assert session is not None
        async with session:  # closing rolls back what was not committed
            if failed or not self.writes:
                return
            await session.commit()
        await run_after_commit_hooks(session)
