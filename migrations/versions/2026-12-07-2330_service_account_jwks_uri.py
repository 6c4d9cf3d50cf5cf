"""service accounts: keys registered by URL (jwks_uri) for private_key_jwt (RFC 7523)

``service_account.jwks_uri`` holds the https URL that serves the public JWK set its client
assertions are checked against, fetched when a client authenticates (and cached per
worker) instead of a set stored in ``jwks``. An account has one or the other, never both
(``ck_service_account_one_key_source``).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 23:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("service_account", sa.Column("jwks_uri", sa.String(length=2048), nullable=True))
    op.create_check_constraint(
        op.f("ck_service_account_one_key_source"),
        "service_account",
        "jwks IS NULL OR jwks_uri IS NULL",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_service_account_one_key_source"), "service_account", type_="check")
    op.drop_column("service_account", "jwks_uri")
