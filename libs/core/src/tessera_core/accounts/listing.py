"""The admin listing's query shapes over the ``user`` table, pure SQLAlchemy with no
connection: the filters, the orderings, the keyset page (``page_statement``) and its SQL
compiled once per shape (``page_sql``), and the opt-in count. ``UserRepository.page`` and
``count`` run them on the request's unit of work."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import BindParameter, ColumnElement, Select, bindparam, func, not_, select, tuple_
from sqlalchemy.dialects.postgresql import psycopg as postgresql_psycopg

from tessera_core.db.models import User, user_search_text
from tessera_core.schemas import AdminUserRead

__all__ = [
    "Ordering",
    "Position",
    "UserFilters",
    "count_sql",
    "count_statement",
    "page_parameters",
    "page_sql",
    "page_statement",
]

Ordering = Literal["date_joined", "-date_joined", "username", "-username"]

# A position in an ordering: (date_joined, id) for the date orderings, (lower(username),)
# for the username orderings (unique, so a total order on its own).
Position = tuple[datetime, uuid.UUID] | tuple[str]


@dataclass(frozen=True)
class UserFilters:
    search: str | None = None
    is_active: bool | None = None
    is_admin: bool | None = None
    email_verified: bool | None = None
    # ``kind``: True for service accounts only, False for people only.
    is_service: bool | None = None


def _like_pattern(term: str) -> str:
    # Drop control characters: U+001F separates the fields in user_search_text().
    term = "".join(c for c in term if c.isprintable())
    escaped = term.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _conditions(filters: UserFilters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.search:
        # ix_user_search_trgm serves this LIKE: a bitmap scan of one GIN trigram index.
        pattern: BindParameter[str] = bindparam("search", _like_pattern(filters.search))
        conditions.append(user_search_text().like(pattern, escape="\\"))
    # The bare column (not "= :param") lets the planner match the partial indexes
    # (WHERE is_admin / WHERE NOT is_active) that serve the rare values.
    if filters.is_active is not None:
        active: ColumnElement[bool] = User.is_active.expression
        conditions.append(active if filters.is_active else not_(active))
    if filters.is_admin is not None:
        admin: ColumnElement[bool] = User.is_admin.expression
        conditions.append(admin if filters.is_admin else not_(admin))
    if filters.email_verified is not None:
        verified: ColumnElement[bool] = User.email_verified.expression
        conditions.append(verified if filters.email_verified else not_(verified))
    if filters.is_service is not None:
        service: ColumnElement[bool] = User.is_service.expression
        conditions.append(service if filters.is_service else not_(service))
    return conditions


def _sort_columns(ordering: Ordering) -> list[ColumnElement[Any]]:
    if ordering.endswith("date_joined"):
        return [User.date_joined.expression, User.id.expression]
    return [func.lower(User.username)]


# What a page shows, under the names ``AdminUserRead`` reads: rows validate as they are.
_PAGE_COLUMNS = [User.__table__.c[name].label(name) for name in AdminUserRead.model_fields]
_DIALECT = postgresql_psycopg.dialect()  # type: ignore[no-untyped-call]


def page_statement(
    filters: UserFilters, ordering: Ordering, after: Position | None, limit: int
) -> Select[Any]:
    """Up to ``limit`` users after ``after`` in ``ordering``: a keyset page, an index range
    scan whatever the page's depth (no OFFSET). Its parameters are named (``search``,
    ``after_0``, ``after_1``, ``limit``): ``page_parameters`` gives them for any request."""
    descending = ordering.startswith("-")
    columns = _sort_columns(ordering)
    statement = select(*_PAGE_COLUMNS).where(*_conditions(filters))
    if after is not None:
        # A row comparison, (a, b) > (x, y): PostgreSQL turns it into one index range.
        bounds = [
            bindparam(f"after_{i}", value, type_=column.type)
            for i, (column, value) in enumerate(zip(columns, after, strict=True))
        ]
        key = tuple_(*columns) if len(columns) > 1 else columns[0]
        bound = tuple_(*bounds) if len(bounds) > 1 else bounds[0]
        statement = statement.where(key < bound if descending else key > bound)
    statement = statement.order_by(*(c.desc() if descending else c.asc() for c in columns))
    return statement.limit(bindparam("limit", limit))


def page_parameters(filters: UserFilters, after: Position | None, limit: int) -> dict[str, Any]:
    parameters: dict[str, Any] = {"limit": limit}
    if filters.search:
        parameters["search"] = _like_pattern(filters.search)
    for i, value in enumerate(after or ()):
        parameters[f"after_{i}"] = value
    return parameters


Shape = tuple[Ordering, bool, bool, bool | None, bool | None, bool | None, bool | None]
_PAGE_SQL: dict[Shape, str] = {}


def page_sql(filters: UserFilters, ordering: Ordering, after: Position | None) -> str:
    """The psycopg SQL of ``page_statement``, compiled once per shape of query (ordering,
    first or later page, which filters): at most 1296, and building and compiling one costs
    ~700 µs, several times the query itself."""
    shape = (
        ordering,
        after is not None,
        bool(filters.search),
        filters.is_active,
        filters.is_admin,
        filters.email_verified,
        filters.is_service,
    )
    sql = _PAGE_SQL.get(shape)
    if sql is None:
        statement = page_statement(filters, ordering, after, 0)
        sql = _PAGE_SQL[shape] = statement.compile(dialect=_DIALECT).string
    return sql


def count_statement(filters: UserFilters) -> Select[Any]:
    """How many users match ``filters`` (``include_total=true``)."""
    statement = select(func.count().label("total")).select_from(User)
    return statement.where(*_conditions(filters))


def count_sql(filters: UserFilters) -> tuple[str, dict[str, Any]]:
    """``count_statement`` as psycopg SQL and its parameters (compiled at each call)."""
    compiled = count_statement(filters).compile(dialect=_DIALECT)
    return compiled.string, compiled.params
