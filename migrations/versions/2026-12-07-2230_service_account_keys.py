"""service accounts: a registered public key set for private_key_jwt (RFC 7523)

``service_account.jwks`` holds the public JWK set its client assertions are checked against;
``key_session_id`` the login session (``amr`` ``{private_key}``) that every token issued on
an assertion carries, so replacing the keys revokes the tokens issued with the old ones.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 22:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "service_account",
        sa.Column("jwks", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )
    op.add_column("service_account", sa.Column("key_session_id", sa.UUID(), nullable=True))
    op.create_foreign_key(
        op.f("fk_service_account_key_session_id_login_session"),
        "service_account",
        "login_session",
        ["key_session_id"],
        ["id"],
        ondelete="SET NULL",
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("fk_service_account_key_session_id_login_session"),
        "service_account",
        type_="foreignkey",
    )
    op.drop_column("service_account", "key_session_id")
    op.drop_column("service_account", "jwks")
