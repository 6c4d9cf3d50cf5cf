"""Database engine, the per-request session dependency and the one metadata."""

from __future__ import annotations

import select
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import MetaData, event, exc
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Session

from tessera_core.settings import Settings

__all__ = [
    "NAMING_CONVENTION",
    "AfterCommit",
    "Base",
    "ReadPool",
    "after_commit",
    "closed_by_server",
    "make_engine",
    "make_read_pool",
    "make_read_session_factory",
    "make_session_factory",
    "session_scope",
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


def make_engine(settings: Settings) -> AsyncEngine:
    """Build the async engine: a pool as large as the concurrency a worker serves, kept
    open (no overflow connections opened and closed inside requests). A checkout that finds
    its connection ended by PostgreSQL (``closed_by_server``) empties the pool and connects
    afresh, so a restarted PostgreSQL fails no request that arrives after it is back; a
    connection dropped mid-request fails that request (503) and invalidates the pool too.
    psycopg prepares a statement once it has run five times on a connection."""
    engine = create_async_engine(
        sqlalchemy_url(settings.database_url.get_secret_value()),
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_pre_ping=False,
        pool_recycle=1800,
        pool_use_lifo=True,
        pool_timeout=5,
        # Errors and their tracebacks must not carry emails, hashes or tokens.
        hide_parameters=True,
        connect_args={"connect_timeout": 5},
    )
    event.listen(engine.sync_engine.pool, "checkout", _refuse_connection_ended_while_idle)
    return engine


def _refuse_connection_ended_while_idle(dbapi_connection: Any, *_: object) -> None:
    if closed_by_server(dbapi_connection.driver_connection):
        # SQLAlchemy's documented answer: every pooled connection is replaced, this one now.
        raise exc.InvalidatePoolError(_ENDED_WHILE_IDLE)


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

ReadPool = AsyncConnectionPool[AsyncConnection[dict[str, Any]]]


def make_read_pool(settings: Settings) -> ReadPool:
    """Plain psycopg connections (autocommit, rows as dicts) for the reads every token
    check of a GET makes: the caller's row. Through SQLAlchemy's async session one
    primary-key lookup costs ~740 µs of CPU here, through this pool ~170 µs
    (docs/benchmarks.md). A refresh runs its two statements here too, each committed on its
    own (``RefreshRotationRepository``).
    Opened by ``core_state`` without waiting for PostgreSQL. As in ``make_engine``, a
    checkout that finds its connection ended by PostgreSQL drains the pool and waits for a
    new one; a connection dropped mid-request fails its request (503) and is replaced."""

    async def refuse_connection_ended_while_idle(connection: AsyncConnection[Any]) -> None:
        if closed_by_server(connection):
            await pool.drain()
            raise psycopg.OperationalError(_ENDED_WHILE_IDLE)

    url = sqlalchemy_url(settings.database_url.get_secret_value())
    pool: ReadPool = AsyncConnectionPool(
        url.replace("postgresql+psycopg://", "postgresql://", 1),
        min_size=settings.database_read_pool_size,
        max_size=settings.database_read_pool_size,
        kwargs={"autocommit": True, "row_factory": dict_row, "connect_timeout": 5},
        timeout=5,
        open=False,
        name="read",
        check=refuse_connection_ended_while_idle,
    )
    return pool


@event.listens_for(Session, "before_flush")
def _refuse_writes_when_read_only(session: Session, *_: object) -> None:
    if session.info.get(_READ_ONLY) and (session.new or session.dirty or session.deleted):
        raise RuntimeError("a read-only unit of work (a GET request) tried to write")


AfterCommit = Callable[[], Awaitable[None]]
_AFTER_COMMIT = "tessera.after_commit"


def after_commit(session: AsyncSession, hook: AfterCommit) -> None:
    """Run ``hook`` once ``session_scope`` has committed this session (never if it rolls
    back): for copies of committed data, such as the revocation fast path."""
    session.info.setdefault(_AFTER_COMMIT, []).append(hook)


@asynccontextmanager
async def session_scope(
    factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """Yield a session that commits once at the end, or rolls back on any error; then
    runs the ``after_commit`` hooks of a committed session.

    Example:
        >>> async with session_scope(factory) as session:  # doctest: +SKIP
        ...     session.add(obj)
    """
    async with factory() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()
            for hook in session.info.pop(_AFTER_COMMIT, []):
                await hook()
