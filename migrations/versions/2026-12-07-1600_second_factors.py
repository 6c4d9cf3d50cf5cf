"""second factors: TOTP secrets, recovery codes, and how each login was proved

``totp_factor`` holds one sealed TOTP secret per account (AES-GCM with
``TESSERA_FACTOR_KEY``, bound to the user id) and the newest time step a code was accepted
for. ``recovery_code`` holds the keyed hashes of an account's single-use recovery codes.
``login_session.amr`` records how a login was proved (RFC 8176: ``pwd``, ``otp``, ``mfa``);
existing sessions were password logins.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "login_session",
        sa.Column(
            "amr",
            postgresql.ARRAY(sa.String(length=16)),
            server_default=sa.text("'{pwd}'::varchar[]"),
            nullable=False,
        ),
    )
    op.create_table(
        "totp_factor",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("secret_sealed", sa.LargeBinary(length=128), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_step", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_totp_factor_user_id_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_totp_factor")),
    )
    op.create_table(
        "recovery_code",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("code_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user.id"],
            name=op.f("fk_recovery_code_user_id_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recovery_code")),
        sa.UniqueConstraint(
            "user_id", "code_hash", name=op.f("uq_recovery_code_user_id_code_hash")
        ),
    )
    op.create_index("ix_recovery_code_user_id", "recovery_code", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_recovery_code_user_id", table_name="recovery_code")
    op.drop_table("recovery_code")
    op.drop_table("totp_factor")
    op.drop_column("login_session", "amr")
