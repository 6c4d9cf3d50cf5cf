"""service accounts: non-human principals an administrator creates

``user.is_service`` marks the account's row (it holds no usable password);
``service_account`` holds what only it has (``client_id``, name, scope, creator);
``service_account_secret`` each secret's SHA-256 and the login session it owns
(``login_session.amr`` ``{client_secret}``), so deleting a secret revokes the tokens issued
with it through the revocation path every session has.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 22:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "user",
        sa.Column("is_service", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.create_table(
        "service_account",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("client_id", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("scope", sa.String(length=1024), nullable=False),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user.id"],
            name=op.f("fk_service_account_user_id_user"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["user.id"],
            name=op.f("fk_service_account_created_by_user"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_service_account")),
        sa.UniqueConstraint("client_id", name=op.f("uq_service_account_client_id")),
    )
    op.create_table(
        "service_account_secret",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("service_account_id", sa.UUID(), nullable=False),
        sa.Column("session_id", sa.UUID(), nullable=False),
        sa.Column("secret_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["service_account_id"],
            ["service_account.user_id"],
            name=op.f("fk_service_account_secret_service_account_id_service_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["login_session.id"],
            name=op.f("fk_service_account_secret_session_id_login_session"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_account_secret")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_service_account_secret_secret_hash")),
        sa.UniqueConstraint("session_id", name=op.f("uq_service_account_secret_session_id")),
    )
    op.create_index(
        "ix_service_account_secret_service_account_id",
        "service_account_secret",
        ["service_account_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        "ix_service_account_secret_service_account_id", table_name="service_account_secret"
    )
    op.drop_table("service_account_secret")
    op.drop_table("service_account")
    op.drop_column("user", "is_service")
