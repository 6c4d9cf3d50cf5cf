"""The one repository of the ``user`` table, on the request's unit of work: the account
behind a token, lookups and uniqueness (case-insensitively, through ``user_identifier``),
creation and changes, and the admin listing's pages (``tessera_core.accounts.listing``).
Both services and the CLI use it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.dialects.postgresql import psycopg as postgresql_psycopg
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tessera_core.accounts.listing import (
    Ordering,
    Position,
    UserFilters,
    count_sql,
    page_parameters,
    page_sql,
)
from tessera_core.accounts.users import EmailTaken, UsernameTaken, identifier_key
from tessera_core.db.models import User, UserIdentifier
from tessera_core.db.unit_of_work import UnitOfWork
from tessera_core.errors import TokenRevoked

__all__ = ["TOKEN_USER_QUERY", "TokenUser", "UserRepository"]


def _token_user_query() -> str:
    columns = [attr.columns[0].label(attr.key) for attr in sa_inspect(User).column_attrs]
    query = select(*columns).where(User.id == bindparam("user_id"))
    return str(query.compile(dialect=postgresql_psycopg.dialect()))  # type: ignore[no-untyped-call]


TOKEN_USER_QUERY = _token_user_query()


@dataclass(frozen=True, slots=True)
class TokenUser:
    """A user's row as a request that only reads sees it: the ``User`` columns, no ORM
    state (building a mapped ``User`` for every ``/me`` cost a tenth of its CPU)."""

    id: uuid.UUID
    username: str
    email: str
    password_hash: str
    nickname: str
    first_name: str
    last_name: str
    is_active: bool
    is_admin: bool
    email_verified: bool
    date_joined: datetime
    last_login: datetime | None
    tokens_not_before: datetime | None
    is_service: bool


class UserRepository:
    """The ``user`` rows, for both services and the CLI. The rows a request handles as
    objects go through the unit of work's ORM session (opened only when a method uses it);
    the hot reads (``token_user`` in a request that only reads, ``page``, ``count``) run SQL
    compiled once through ``UnitOfWork.execute``, rows as dicts, no ORM object."""

    def __init__(self, work: UnitOfWork) -> None:
        self.work = work

    @property
    def session(self) -> AsyncSession:
        return self.work.session

    async def token_user(self, user_id: str) -> User | TokenUser:
        """The active account a verified token belongs to; ``TokenRevoked`` if it is gone or
        inactive (deactivation revokes tokens; this covers a row changed behind it). In a
        unit of work that writes, the session's ``User``, which the request may then change;
        in one that only reads, a ``TokenUser`` from one prepared query."""
        user: User | TokenUser | None
        if self.work.writes:
            user = await self.session.get(User, uuid.UUID(user_id))
        else:
            cursor = await self.work.execute(TOKEN_USER_QUERY, {"user_id": uuid.UUID(user_id)})
            row = await cursor.fetchone()
            user = TokenUser(**row) if row else None
        if user is None or not user.is_active:
            raise TokenRevoked("The account behind this token no longer exists or is inactive.")
        return user

    async def token_user_to_change(self, user_id: str) -> User:
        """``token_user`` for a request that changes the account: its session's ``User``."""
        if not self.work.writes:
            raise RuntimeError("a request that only reads cannot change the token's account")
        user = await self.token_user(user_id)
        assert isinstance(user, User)
        return user

    async def get(self, user_id: uuid.UUID) -> User | None:
        return await self.session.get(User, user_id)

    async def username_taken(self, username: str) -> bool:
        """True if the username names any account: as a username or as an email."""
        return await self._key_owner(identifier_key(username)) is not None

    async def email_taken(self, email: str, *, excluding: uuid.UUID | None = None) -> bool:
        """True if the email names an account other than ``excluding``: as an email or as
        a username."""
        owner = await self._key_owner(identifier_key(email))
        return owner is not None and owner != excluding

    async def get_by_identifier(self, identifier: str) -> User | None:
        """The account a login string names (its username or its email, canonically)."""
        return await self.session.scalar(
            select(User)
            .join(UserIdentifier, UserIdentifier.user_id == User.id)
            .where(UserIdentifier.key == identifier_key(identifier))
        )

    async def _key_owner(self, key: str) -> uuid.UUID | None:
        return await self.session.scalar(
            select(UserIdentifier.user_id).where(UserIdentifier.key == key)
        )

    async def save(self, user: User) -> User:
        """Insert or update now, with the account's identifiers. Two concurrent claims of
        one username or email both pass the checks above; the database refuses the later
        one (the unique indexes on ``user``, the primary key of ``user_identifier``), and
        that becomes a 409."""
        try:
            async with self.session.begin_nested():
                self.session.add(user)
                await self.session.flush()
        except IntegrityError as exc:
            constraint = getattr(getattr(exc.orig, "diag", None), "constraint_name", "") or ""
            if constraint == "uq_user_email_lower":
                raise EmailTaken("A user with this email already exists.") from exc
            if constraint == "uq_user_username_lower":
                raise UsernameTaken("A user with this username already exists.") from exc
            raise
        await self._claim_identifiers(user)
        return user

    async def add(self, user: User) -> User:
        """``save`` a new account and read back what the database filled in."""
        await self.save(user)
        await self.session.refresh(user)
        return user

    async def record_login(self, user: User, at: datetime) -> None:
        user.last_login = at
        await self.session.flush()

    async def _claim_identifiers(self, user: User) -> None:
        # The username's key first: when an account's username and email are one string,
        # the one row says "username".
        wanted = {identifier_key(user.email): "email", identifier_key(user.username): "username"}
        await self.session.execute(
            delete(UserIdentifier).where(
                UserIdentifier.user_id == user.id, UserIdentifier.key.not_in(list(wanted))
            )
        )
        rows = insert(UserIdentifier).values(
            [{"key": key, "user_id": user.id, "kind": kind} for key, kind in wanted.items()]
        )
        # A key another account holds is neither inserted nor updated, so it is missing from
        # RETURNING; a concurrent claim waits on the primary key until the first commits.
        statement = rows.on_conflict_do_update(
            index_elements=[UserIdentifier.key],
            set_={"kind": rows.excluded.kind},
            where=UserIdentifier.user_id == rows.excluded.user_id,
        ).returning(UserIdentifier.key)
        claimed = set((await self.session.scalars(statement)).all())
        if identifier_key(user.username) not in claimed:
            raise UsernameTaken("This username already names another account.")
        if identifier_key(user.email) not in claimed:
            raise EmailTaken("This email already names another account.")

    async def page(
        self, filters: UserFilters, ordering: Ordering, after: Position | None, limit: int
    ) -> list[dict[str, Any]]:
        """The listing's keyset page (``listing.page_statement``), its SQL compiled once per
        shape, on the unit of work's connection: rows as dicts, no ORM session."""
        sql = page_sql(filters, ordering, after)
        cursor = await self.work.execute(sql, page_parameters(filters, after, limit))
        return await cursor.fetchall()

    async def count(self, filters: UserFilters) -> int:
        sql, parameters = count_sql(filters)
        cursor = await self.work.execute(sql, parameters)
        row = await cursor.fetchone()
        return int(row["total"]) if row else 0
