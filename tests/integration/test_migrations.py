"""Migration 0004 backfills user_identifier from the accounts that exist."""

from __future__ import annotations

import uuid

from sqlalchemy import create_engine, make_url, text

from tessera_core.ops.migrations import migrate
from tests.fixtures.users import FAKE_HASH


def test_identifiers_are_backfilled_oldest_first(database_url: str):
    name = f"backfill_{uuid.uuid4().hex[:8]}"
    admin = create_engine(make_url(database_url).set(drivername="postgresql+psycopg"))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    url = make_url(database_url).set(database=name).render_as_string(hide_password=False)
    try:
        migrate(url, "0003")
        users = [
            ("00000000-0000-0000-0000-000000000001", "Alice", "Alice@Example.com", 1),
            # Full-width email: only the Python path (identifier_key) makes it alice@...
            ("00000000-0000-0000-0000-000000000002", "bob", "\uff42ob@\uff25xample.com", 2),
            # A newer account whose username is the older one's email: it loses that key.
            ("00000000-0000-0000-0000-000000000003", "alice@example.com", "c@example.com", 3),
        ]
        engine = create_engine(url)
        with engine.begin() as conn:
            for user_id, username, email, day in users:
                conn.execute(
                    text(
                        'INSERT INTO "user" (id, username, email, password_hash, date_joined) '
                        "VALUES (:id, :u, :e, :h, make_date(2026, 1, :d))"
                    ),
                    {"id": user_id, "u": username, "e": email, "h": FAKE_HASH, "d": day},
                )
        migrate(url, "head")
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT key, user_id::text, kind FROM user_identifier"))
            keys = {key: (owner[-1], kind) for key, owner, kind in rows}
        engine.dispose()
        assert keys == {
            "alice": ("1", "username"),
            "alice@example.com": ("1", "email"),
            "bob": ("2", "username"),
            "bob@example.com": ("2", "email"),
            "c@example.com": ("3", "email"),
        }
    finally:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def test_0005_starts_existing_accounts_unverified_and_downgrades_cleanly(database_url: str):
    from alembic import command
    from alembic.config import Config

    from tessera_core.ops.migrations import find_migrations_dir

    name = f"mail_{uuid.uuid4().hex[:8]}"
    admin = create_engine(make_url(database_url).set(drivername="postgresql+psycopg"))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    url = make_url(database_url).set(database=name).render_as_string(hide_password=False)
    config = Config()
    config.set_main_option("script_location", str(find_migrations_dir()))
    config.attributes["database_url"] = url
    engine = create_engine(url)
    try:
        migrate(url, "0004")
        with engine.begin() as conn:
            conn.execute(
                text(
                    'INSERT INTO "user" (id, username, email, password_hash) '
                    "VALUES (:id, 'old', 'old@example.com', :h)"
                ),
                {"id": uuid.uuid4(), "h": FAKE_HASH},
            )
        migrate(url, "head")
        with engine.connect() as conn:
            assert conn.execute(text('SELECT email_verified FROM "user"')).scalar_one() is False
            tables = set(
                conn.execute(
                    text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                ).scalars()
            )
        assert {"account_token", "mail_outbox"} <= tables
        command.downgrade(config, "0004")
        with engine.connect() as conn:
            tables = set(
                conn.execute(
                    text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                ).scalars()
            )
            columns = set(
                conn.execute(
                    text(
                        "SELECT column_name FROM information_schema.columns "
                        "WHERE table_name = 'user'"
                    )
                ).scalars()
            )
        assert not {"account_token", "mail_outbox"} & tables
        assert "email_verified" not in columns
        migrate(url, "head")  # and up again
    finally:
        engine.dispose()
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()
