"""revoked access tokens know their user

The Redis keys of one user's revocations share a Redis Cluster hash slot (so the token
check stays one round trip on a cluster); re-asserting a revoked access token from
PostgreSQL needs the user it belonged to. Rows written before this revision have none:
they are re-asserted no more (they expire within one access-token lifetime anyway).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("revoked_access_token", sa.Column("user_id", sa.Uuid(), nullable=True))


def downgrade() -> None:
    op.drop_column("revoked_access_token", "user_id")
