from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, not_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from tessera_core.models import User, user_search_text
from tessera_users.admin.schemas import Ordering

# A position in an ordering: (date_joined, id) for the date orderings, (lower(username),)
# for the username orderings (unique, so a total order on its own).
Position = tuple[datetime, uuid.UUID] | tuple[str]


@dataclass(frozen=True)
class UserFilters:
    search: str | None = None
    is_active: bool | None = None
    is_admin: bool | None = None


def _like_pattern(term: str) -> str:
    # Drop control characters: U+001F separates the fields in user_search_text().
    term = "".join(c for c in term if c.isprintable())
    escaped = term.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _conditions(filters: UserFilters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.search:
        # ix_user_search_trgm serves this LIKE: a bitmap scan of one GIN trigram index.
        conditions.append(user_search_text().like(_like_pattern(filters.search), escape="\\"))
    # The bare column (not "= :param") lets the planner match the partial indexes
    # (WHERE is_admin / WHERE NOT is_active) that serve the rare values.
    if filters.is_active is not None:
        active: ColumnElement[bool] = User.is_active.expression
        conditions.append(active if filters.is_active else not_(active))
    if filters.is_admin is not None:
        admin: ColumnElement[bool] = User.is_admin.expression
        conditions.append(admin if filters.is_admin else not_(admin))
    return conditions


class UserListRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def page_statement(
        self, filters: UserFilters, ordering: Ordering, after: Position | None, limit: int
    ) -> Select[User]:
        """Up to ``limit`` users after ``after`` in ``ordering``: a keyset page, an index
        range scan whatever the page's depth (no OFFSET)."""
        statement = select(User).where(*_conditions(filters)).limit(limit)
        descending = ordering.startswith("-")
        columns: list[ColumnElement[Any]]
        if ordering.endswith("date_joined"):
            columns = [User.date_joined.expression, User.id.expression]
        else:
            columns = [func.lower(User.username)]
        if after is not None:
            # A row comparison, (a, b) > (x, y): PostgreSQL turns it into one index range.
            key: ColumnElement[Any] = tuple_(*columns) if len(columns) > 1 else columns[0]
            bound: Any = tuple_(*after) if len(after) > 1 else after[0]
            statement = statement.where(key < bound if descending else key > bound)
        return statement.order_by(*(c.desc() if descending else c.asc() for c in columns))

    async def page(
        self, filters: UserFilters, ordering: Ordering, after: Position | None, limit: int
    ) -> Sequence[User]:
        statement = self.page_statement(filters, ordering, after, limit)
        return (await self.session.scalars(statement)).all()

    async def count(self, filters: UserFilters) -> int:
        total = await self.session.scalar(
            select(func.count()).select_from(User).where(*_conditions(filters))
        )
        return int(total or 0)
