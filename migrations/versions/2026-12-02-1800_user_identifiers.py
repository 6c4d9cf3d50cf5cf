"""user identifiers: one identifier, one account

Every string that names an account at login (its username and its email) gets a row in
``user_identifier`` under its canonical key (NFKC, case-folded, IDNA domain;
``tessera_core.accounts.users.identifier_key``). The primary key spans both kinds, so the
database itself refuses a username that equals another account's email (or the reverse),
and two emails that differ only in Unicode form or case, however concurrent the requests.

Existing rows are backfilled oldest account first (ASCII values in one statement, the rare
others after them, through ``identifier_key``). Where two existing accounts already share a key, the first claim
keeps it and the other account loses that identifier (it can still log in with its other
one); the migration prints how many accounts that left for an operator to look at.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 18:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from tessera_core.accounts.users import identifier_key

revision: str = "0004"
down_revision: str | None = "0003"
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
    # ASCII values (nearly all) in one statement: for them NFKC changes nothing,
    # case-folding is lower() and the IDNA form of a domain is its lower case, so the key
    # is lower(value). Oldest account first, its username before its email; ON CONFLICT
    # keeps the first claim.
    bind.execute(
        sa.text(
            "INSERT INTO user_identifier (key, user_id, kind) "
            "SELECT key, id, kind FROM ("
            "  SELECT lower(username) AS key, id, 'username' AS kind, date_joined, 0 AS o"
            "  FROM \"user\" WHERE username ~ '^[ -~]*$'"
            "  UNION ALL"
            "  SELECT lower(email), id, 'email', date_joined, 1"
            "  FROM \"user\" WHERE email ~ '^[ -~]*$'"
            ") AS claims ORDER BY date_joined, id, o ON CONFLICT (key) DO NOTHING"
        )
    )
    # The rest through the same function the services use.
    rows = bind.execute(
        sa.text(
            'SELECT id, username, email FROM "user" '
            "WHERE username !~ '^[ -~]*$' OR email !~ '^[ -~]*$' ORDER BY date_joined, id"
        )
    ).all()
    for user_id, username, email in rows:
        for kind, value in (("username", username), ("email", email)):
            bind.execute(
                sa.text(
                    "INSERT INTO user_identifier (key, user_id, kind) "
                    "VALUES (:key, :id, :kind) ON CONFLICT (key) DO NOTHING"
                ),
                {"key": identifier_key(value), "id": user_id, "kind": kind},
            )
    unclaimed = bind.scalar(
        sa.text(
            'SELECT count(*) FROM "user" u WHERE (SELECT count(*) FROM user_identifier i '
            "WHERE i.user_id = u.id) < 2 AND lower(u.username) <> lower(u.email)"
        )
    )
    if unclaimed:
        print(
            f"user_identifier: {unclaimed} account(s) share a username or email with an "
            "older account and can no longer log in with it; see the user_identifier table"
        )


def downgrade() -> None:
    op.drop_index(op.f("ix_user_identifier_user_id"), table_name="user_identifier")
    op.drop_table("user_identifier")
