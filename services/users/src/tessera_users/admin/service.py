"""The admin listing: filters, orderings and keyset cursors."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tessera_core.accounts.listing import Ordering, Position, UserFilters
from tessera_core.accounts.repository import UserRepository
from tessera_users.admin.schemas import ListingParameters, UserPage
from tessera_users.cursor import CursorCodec, InvalidCursor

__all__ = ["UserListQuery", "decode_cursor", "list_users", "parse_position", "position_of"]


@dataclass(frozen=True)
class UserListQuery:
    ordering: Ordering = "date_joined"
    limit: int = 20
    cursor: str | None = None
    filters: UserFilters = field(default_factory=UserFilters)
    include_total: bool = False

    @classmethod
    def of(cls, parameters: ListingParameters) -> UserListQuery:
        return cls(
            ordering=parameters.ordering,
            limit=parameters.limit,
            cursor=parameters.cursor or None,
            filters=UserFilters(
                search=(parameters.search or "").strip() or None,
                is_active=parameters.is_active,
                is_admin=parameters.is_admin,
                email_verified=parameters.email_verified,
                is_service=None if parameters.kind is None else parameters.kind == "service",
            ),
            include_total=parameters.include_total,
        )


def position_of(user: Mapping[str, Any], ordering: Ordering) -> list[str]:
    """The JSON form of a row's sort key, the content of the next page's cursor."""
    if ordering.endswith("date_joined"):
        return [user["date_joined"].isoformat(), str(user["id"])]
    # Usernames are ASCII (check_username), where Python's lower() is PostgreSQL's.
    return [user["username"].lower()]


def parse_position(key: Any, ordering: Ordering) -> Position:
    """The sort key from a cursor's JSON; ``InvalidCursor`` if it does not fit the ordering."""
    try:
        if ordering.endswith("date_joined"):
            joined, user_id = key
            at = datetime.fromisoformat(joined)
            if at.tzinfo is None:
                raise ValueError("naive timestamp")
            return (at, uuid.UUID(user_id))
        (username,) = key
        if not isinstance(username, str):
            raise TypeError("username must be a string")
        return (username,)
    except (TypeError, ValueError) as exc:
        raise InvalidCursor("The cursor does not fit this ordering.") from exc


def decode_cursor(codec: CursorCodec, cursor: str, ordering: Ordering) -> Position:
    data = codec.decode(cursor)
    if data.get("o") != ordering:
        raise InvalidCursor("The cursor belongs to another ordering; start again without it.")
    return parse_position(data.get("k"), ordering)


async def list_users(users: UserRepository, codec: CursorCodec, query: UserListQuery) -> UserPage:
    """One page of users, and the cursor of the next page if there is one."""
    after = decode_cursor(codec, query.cursor, query.ordering) if query.cursor else None
    # One row more than the page tells whether a next page exists, without a count.
    rows = await users.page(query.filters, query.ordering, after, query.limit + 1)
    items = rows[: query.limit]
    next_cursor = None
    if len(rows) > query.limit:
        last = position_of(items[-1], query.ordering)
        next_cursor = codec.encode({"o": query.ordering, "k": last})
    page = UserPage.model_validate({"items": items, "next_cursor": next_cursor})
    if query.include_total:
        page.total = await users.count(query.filters)
    return page
