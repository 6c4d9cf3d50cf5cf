"""session scope: what a narrowed login session's tokens may do

``login_session.scope`` holds the space-separated scopes a grant asked for
(``tessera_core.tokens.scopes``), so a refresh never gives the session more than it was
granted. NULL, for every session before it and every human login, means everything the
user's roles allow at the time a token is minted.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 19:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("login_session", sa.Column("scope", sa.String(length=1024), nullable=True))


def downgrade() -> None:
    op.drop_column("login_session", "scope")
