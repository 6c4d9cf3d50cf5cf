"""The worker's one pool and SQLAlchemy's engine on it, the ORM sessions, and the one metadata."""

from __future__ import annotations

import contextlib
import select
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import MetaData, event
from sqlalchemy.dialects.postgresql.psycopg import _log_notices as _sqlalchemy_log_notices
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.pool import NullPool

from tessera_core.settings import Settings

__all__ = [
    "NAMING_CONVENTION",
    "AfterCommit",
    "Base",
    "Database",
    "Pool",
    "after_commit",
    "closed_by_server",
    "make_read_session_factory",
    "make_session_factory",
    "run_after_commit_hooks",
    "sqlalchemy_url",
]

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def sqlalchemy_url(url: str) -> str:
    """Normalise ``postgres://``/``postgresql://`` URLs to the psycopg 3 async driver.

    Example:
        >>> sqlalchemy_url("postgres://u:p@db/tessera")
        'postgresql+psycopg://u:p@db/tessera'
    """
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def closed_by_server(connection: AsyncConnection[Any]) -> bool:
    """Whether PostgreSQL has ended this idle connection (a restart, an administrator, an
    idle timeout). It then sends its reason and closes the socket, so an idle connection
    it ended has something to read where a live one has nothing: one poll(2), no round
    trip, where a ping per checkout would cost one."""
    if connection.closed or connection.broken:
        return True
    poller = select.poll()
    poller.register(connection.pgconn.socket, select.POLLIN)
    return bool(poller.poll(0))


_ENDED_WHILE_IDLE = "PostgreSQL ended this pooled connection while it was idle"


Pool = AsyncConnectionPool[AsyncConnection[Any]]


class Database:
    """The worker's one pool of PostgreSQL connections (psycopg_pool), with SQLAlchemy's
    engine on it: the engine keeps no pool of its own (``NullPool``) and borrows each
    connection from this one, whose ``close_returns`` gives it back when SQLAlchemy closes
    it (psycopg's documented way to share a pool with SQLAlchemy). So the ORM sessions and
    the statements written as SQL (``UnitOfWork.execute``) take from one pool of
    ``TESSERA_DATABASE_POOL_SIZE`` connections (+ ``TESSERA_DATABASE_MAX_OVERFLOW``), kept
    open, where a checkout costs ~12 µs of CPU against ~190 µs through SQLAlchemy's own pool
    (``python -m bench.db_access``).

    A checkout that finds its connection ended by PostgreSQL (``closed_by_server``) drains
    the pool and connects afresh, so a restarted PostgreSQL fails no request that arrives
    after it is back; a connection dropped mid-request fails that request (503) and is
    replaced. psycopg prepares a statement once it has run five times on a connection.
    Opened without waiting for PostgreSQL: readiness says whether it is there."""

    def __init__(self, settings: Settings) -> None:
        url = sqlalchemy_url(settings.database_url.get_secret_value())

        async def refuse_connection_ended_while_idle(connection: AsyncConnection[Any]) -> None:
            if closed_by_server(connection):
                await self.pool.drain()
                raise psycopg.OperationalError(_ENDED_WHILE_IDLE)

        self.pool: Pool = AsyncConnectionPool(
            url.replace("postgresql+psycopg://", "postgresql://", 1),
            min_size=settings.database_pool_size,
            max_size=settings.database_pool_size + settings.database_max_overflow,
            # Autocommit at rest, for the SQL of requests that only read (most of them);
            # SQLAlchemy takes the connections it borrows out of it (``_lent``, ``_returned``).
            kwargs={"connect_timeout": 5, "autocommit": True},
            timeout=5,
            max_lifetime=1800,
            open=False,
            name="tessera",
            check=refuse_connection_ended_while_idle,
            close_returns=True,
        )
        self.engine: AsyncEngine = create_async_engine(
            url,
            poolclass=NullPool,
            async_creator=self._lend,
            # Errors and their tracebacks must not carry emails, hashes or tokens.
            hide_parameters=True,
        )
        event.listen(self.engine.sync_engine, "connect", _lent, insert=True)
        event.listen(self.engine.sync_engine, "checkin", _returned)
        self.session_factory = make_session_factory(self.engine)
        self.read_session_factory = make_read_session_factory(self.engine)

    async def _lend(self) -> AsyncConnection[Any]:
        await self.pool.open()  # once: a no-op on an open pool
        return await self.pool.getconn()

    async def open(self) -> None:
        await self.pool.open(wait=False)

    async def close(self) -> None:
        await self.engine.dispose()
        await self.pool.close()

    async def __aenter__(self) -> Database:
        await self.open()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()


def _lent(dbapi_connection: Any, _record: object) -> None:
    # SQLAlchemy borrows a connection from the pool (to it, a new one): its transactions
    # begin implicitly, as on a connection it had opened itself.
    dbapi_connection.autocommit = False


def _returned(dbapi_connection: Any, _record: object) -> None:
    """SQLAlchemy gives a connection back (rolled back already, and out of any isolation
    level a session set): in autocommit again, without the notice handler SQLAlchemy added
    when it borrowed it (one would pile up per borrow). Done here, in the returning task,
    because a ``reset`` callback would make psycopg_pool return every connection through a
    background task."""
    if dbapi_connection is None:  # invalidated: the pool discards it
        return
    with contextlib.suppress(ValueError):
        dbapi_connection.driver_connection.remove_notice_handler(_sqlalchemy_log_notices)
    with contextlib.suppress(psycopg.Error):  # broken: the pool discards it
        dbapi_connection.autocommit = True


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def make_read_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for requests that only read: autocommit, so a query is one round trip with
    no BEGIN before it and no COMMIT after it. A flush in one is a bug and raises."""
    return async_sessionmaker(
        engine.execution_options(isolation_level="AUTOCOMMIT"),
        expire_on_commit=False,
        autoflush=False,
        info={_READ_ONLY: True},
    )


_READ_ONLY = "tessera.read_only"


@event.listens_for(Session, "before_flush")
def _refuse_writes_when_read_only(session: Session, *_: object) -> None:
    if session.info.get(_READ_ONLY) and (session.new or session.dirty or session.deleted):
        raise RuntimeError("a read-only unit of work (a GET request) tried to write")


AfterCommit = Callable[[], Awaitable[None]]
_AFTER_COMMIT = "tessera.after_commit"


def after_commit(session: AsyncSession, hook: AfterCommit) -> None:
    """Run ``hook`` once this session's ``UnitOfWork`` has committed it (never if it rolls
    back): for copies of committed data, such as the revocation fast path."""
    session.info.setdefault(_AFTER_COMMIT, []).append(hook)


async def run_after_commit_hooks(session: AsyncSession) -> None:
    for hook in session.info.pop(_AFTER_COMMIT, []):
        await hook()
