"""CPU per primary-key lookup of a user row, by way into the database: the measurement
behind "One way into the database" in docs/architecture.md.

    uv run --frozen python -m bench.db_access [--lookups 3000]

Each way reads the same row of a migrated database on a throwaway PostgreSQL, one lookup
at a time, after a warm-up; the figure is this process's CPU time per lookup (the server's
is not counted), so it holds on a busy machine better than a rate would.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from tessera_core.accounts.repository import TOKEN_USER_QUERY
from tessera_core.db.engine import Database, sqlalchemy_url
from tessera_core.db.models import User
from tessera_core.db.unit_of_work import UnitOfWork
from tessera_core.ops.migrations import migrate
from tessera_core.settings import Settings
from tests.fixtures.servers import LocalPostgres

Lookup = Callable[[], Awaitable[object]]


async def measure(url: str, lookups: int) -> list[tuple[str, float]]:
    plain_url = url.replace("postgresql+psycopg://", "postgresql://", 1)
    user_id = uuid.uuid4()
    pool = AsyncConnectionPool(
        plain_url,
        min_size=1,
        max_size=1,
        open=False,
        kwargs={"autocommit": True, "row_factory": dict_row},
    )
    await pool.open()
    async with pool.connection() as conn:
        await conn.execute(
            'INSERT INTO "user" (id, username, email, password_hash) '
            "VALUES (%s, 'bench', 'bench@example.com', 'x')",
            (user_id,),
        )
    engine = create_async_engine(url, pool_size=1, max_overflow=0)
    autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
    sessions = async_sessionmaker(autocommit, expire_on_commit=False)
    statement = select(User.__table__).where(User.id == bindparam("user_id"))
    parameters = {"user_id": user_id}

    async def psycopg_execute() -> object:
        async with pool.connection() as conn:
            return await (await conn.execute(TOKEN_USER_QUERY, parameters)).fetchone()

    async def psycopg_checkout() -> object:
        async with pool.connection():
            return None

    async def sqlalchemy_core() -> object:
        async with autocommit.connect() as conn:
            return (await conn.execute(statement, parameters)).mappings().one()

    async def sqlalchemy_session() -> object:
        async with sessions() as session:
            return (await session.execute(statement, parameters)).mappings().one()

    async def sqlalchemy_checkout() -> object:
        async with autocommit.connect():
            return None

    async def sqlalchemy_raw_connection() -> object:
        async with autocommit.connect() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            assert raw is not None
            return await (await raw.execute(TOKEN_USER_QUERY, parameters)).fetchone()

    database = Database(Settings(database_url=url, database_pool_size=1))
    await database.open()

    async def unit_of_work_execute() -> object:
        async with UnitOfWork(database, writes=False) as work:
            return await (await work.execute(TOKEN_USER_QUERY, parameters)).fetchone()

    async def unit_of_work_session() -> object:
        async with UnitOfWork(database, writes=False) as work:
            return (await work.session.execute(statement, parameters)).mappings().one()

    ways: list[tuple[str, Lookup]] = [
        ("psycopg pool, execute", psycopg_execute),
        ("psycopg pool, checkout alone", psycopg_checkout),
        ("SQLAlchemy AsyncConnection, Core select", sqlalchemy_core),
        ("SQLAlchemy AsyncSession, Core select", sqlalchemy_session),
        ("SQLAlchemy checkout alone", sqlalchemy_checkout),
        ("SQLAlchemy checkout, raw psycopg execute", sqlalchemy_raw_connection),
        ("Database: UnitOfWork.execute (a GET's SQL)", unit_of_work_execute),
        ("Database: UnitOfWork.session, Core select", unit_of_work_session),
    ]
    figures = []
    try:
        for name, lookup in ways:
            for _ in range(lookups // 10):
                await lookup()
            began = time.process_time()
            for _ in range(lookups):
                await lookup()
            figures.append((name, 1e6 * (time.process_time() - began) / lookups))
    finally:
        await pool.close()
        await engine.dispose()
        await database.close()
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.db_access", description=__doc__)
    parser.add_argument("--lookups", type=int, default=3000)
    args = parser.parse_args(argv)
    server = LocalPostgres().start()
    try:
        url = sqlalchemy_url(server.url())
        migrate(url)
        for name, micros in asyncio.run(measure(url, args.lookups)):
            print(f"{name:<42} {micros:7.0f} µs CPU per lookup")
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
