"""users listing indexes: trigram search, partial indexes for rare filters

The admin listing pages with keyset cursors, so every page is an index range scan:

- ordering ``date_joined`` / ``-date_joined``: ``ix_user_date_joined_id`` (0001), read
  forwards or backwards, ``id`` as the tiebreaker;
- ordering ``username`` / ``-username``: case-insensitive, ``uq_user_username_lower`` (0001);
  ``lower(username)`` is unique, so it needs no tiebreaker;
- ``search``: a case-insensitive substring of username, email or nickname, served by one
  GIN trigram index over ``lower(username || chr(31) || email || chr(31) || nickname)``
  (one bitmap scan with a good row estimate; three per-column indexes OR-ed together cost
  more than a full scan in the planner's eyes, so it never used them);
- ``is_admin=true`` / ``is_active=false``: rare values, served by small partial indexes in
  both orderings, so a page does not walk the full ordering index looking for matches.

pg_trgm is a trusted extension (PostgreSQL 13+): the database owner may create it. Where
the server does not ship it at all (the embedded PostgreSQL wheel of `make dev` has only
plpgsql), the trigram index is skipped: search still answers, by scanning.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEARCH_TEXT = "lower((((username::text || chr(31)) || email::text) || chr(31)) || nickname::text)"


def _pg_trgm_available() -> bool:
    available = op.get_bind().scalar(
        sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")
    )
    return available is not None


def upgrade() -> None:
    if _pg_trgm_available():
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.create_index(
            "ix_user_search_trgm",
            "user",
            [sa.literal_column(f"{SEARCH_TEXT} gin_trgm_ops")],
            postgresql_using="gin",
        )
    op.create_index(
        "ix_user_admin_date_joined_id",
        "user",
        ["date_joined", "id"],
        postgresql_where=sa.text("is_admin"),
    )
    op.create_index(
        "ix_user_admin_username_lower",
        "user",
        [sa.literal_column("lower(username)")],
        postgresql_where=sa.text("is_admin"),
    )
    op.create_index(
        "ix_user_inactive_date_joined_id",
        "user",
        ["date_joined", "id"],
        postgresql_where=sa.text("NOT is_active"),
    )
    op.create_index(
        "ix_user_inactive_username_lower",
        "user",
        [sa.literal_column("lower(username)")],
        postgresql_where=sa.text("NOT is_active"),
    )


def downgrade() -> None:
    op.drop_index("ix_user_inactive_username_lower", table_name="user")
    op.drop_index("ix_user_inactive_date_joined_id", table_name="user")
    op.drop_index("ix_user_admin_username_lower", table_name="user")
    op.drop_index("ix_user_admin_date_joined_id", table_name="user")
    op.drop_index("ix_user_search_trgm", table_name="user", if_exists=True)
    # The extension stays: other objects may use it, and it is harmless.
