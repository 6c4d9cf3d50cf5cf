"""user identifiers: one identifier, one account

Every string that names an account at login (its username and its email) gets a row in
``user_identifier`` under its canonical key (NFKC, case-folded, IDNA domain;
``tessera_core.accounts.identifier_key``). The primary key spans both kinds, so the
database itself refuses a username that equals another account's email (or the reverse),
and two emails that differ only in Unicode form or case, however concurrent the requests.

Existing rows are backfilled oldest account first. Where two existing accounts already
share a key, the older one keeps it and the newer one loses that identifier (it can still
log in with its other one); the migration prints each such account for an operator.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tessera_core.accounts import identifier_key

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "user_identifier",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user.id"],
            name=op.f("fk_user_identifier_user_id_user"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_user_identifier")),
    )
    op.create_index(
        op.f("ix_user_identifier_user_id"), "user_identifier", ["user_id"], unique=False
    )
    bind = op.get_bind()
    rows = bind.execute(
        sa.text('SELECT id, username, email FROM "user" ORDER BY date_joined, id')
    ).all()
    owners: dict[str, object] = {}
    for user_id, username, email in rows:
        for kind, value in (("username", username), ("email", email)):
            key = identifier_key(value)
            if key in owners:
                if owners[key] != user_id:
                    print(f"user {user_id}: {kind} {value!r} already names user {owners[key]}")
                continue
            owners[key] = user_id
            bind.execute(
                sa.text(
                    "INSERT INTO user_identifier (key, user_id, kind) VALUES (:key, :id, :kind)"
                ),
                {"key": key, "id": user_id, "kind": kind},
            )


def downgrade() -> None:
    op.drop_index(op.f("ix_user_identifier_user_id"), table_name="user_identifier")
    op.drop_table("user_identifier")
