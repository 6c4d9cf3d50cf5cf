"""users listing: partial indexes for ``kind=service``

Service accounts are ``user`` rows with ``is_service`` (0010), few beside the people. The
admin listing's ``kind=service`` filter found them with a sequential scan and a sort of the
whole table (20,000 rows: 2.4 ms and 466 buffers, against 0.03 ms for any other page, and
growing with the table), so, like ``is_admin`` and ``NOT is_active`` (0002), they get small
partial indexes in both orderings. ``kind=person`` is the common value: the ordering's own
index serves it with a filter.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 23:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_user_service_date_joined_id",
        "user",
        ["date_joined", "id"],
        postgresql_where=sa.text("is_service"),
    )
    op.create_index(
        "ix_user_service_username_lower",
        "user",
        [sa.literal_column("lower(username)")],
        postgresql_where=sa.text("is_service"),
    )


def downgrade() -> None:
    op.drop_index("ix_user_service_username_lower", table_name="user")
    op.drop_index("ix_user_service_date_joined_id", table_name="user")
