"""Database engine, the per-request session dependency and the one metadata."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase

from tessera_core.settings import Settings

__all__ = [
    "NAMING_CONVENTION",
    "AfterCommit",
    "Base",
    "after_commit",
    "make_engine",
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


def make_engine(settings: Settings) -> AsyncEngine:
    """Build the async engine; connections are checked before use so a restarted
    PostgreSQL is picked up again without a process restart."""
    return create_async_engine(
        sqlalchemy_url(settings.database_url.get_secret_value()),
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_pre_ping=True,
        pool_timeout=5,
        # Errors and their tracebacks must not carry emails, hashes or tokens.
        hide_parameters=True,
        connect_args={"connect_timeout": 5},
    )


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


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
