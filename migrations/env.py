"""Alembic environment: one history for the one Tessera database, run online only."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from tessera_core.db import models  # noqa: F401  (registers the tables on the metadata)
from tessera_core.db.engine import Base, sqlalchemy_url
from tessera_core.settings import Settings

target_metadata = Base.metadata


def _url() -> str:
    configured = context.config.attributes.get("database_url")
    return sqlalchemy_url(configured or Settings().database_url.get_secret_value())


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
    with context.begin_transaction():
        # Serialise concurrent `migrate` runs (several replicas or hooks starting at once).
        connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7438520114)")
        context.run_migrations()


async def _main() -> None:
    engine = create_async_engine(_url())
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run `tessera migrate`")
asyncio.run(_main())
