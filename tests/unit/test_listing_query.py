"""The admin listing's query: the parameters read into a ``UserListQuery``, and the SQL
``tessera_core.accounts.listing`` builds from it (compiled for PostgreSQL, never run)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy.dialects.postgresql import psycopg

from tessera_core.accounts.listing import Ordering, UserFilters, page_parameters, page_statement
from tessera_users.admin.schemas import ListingParameters
from tessera_users.admin.service import UserListQuery

JOINED = (datetime(2026, 1, 1, tzinfo=UTC), uuid.UUID(int=1))


def sql(filters: UserFilters, ordering: Ordering, after=None) -> str:
    statement = page_statement(filters, ordering, after, 20)
    return " ".join(str(statement.compile(dialect=psycopg.dialect())).split())


class TestUserListQueryOf:
    def test_defaults(self):
        assert UserListQuery.of(ListingParameters()) == UserListQuery(
            ordering="date_joined",
            limit=20,
            cursor=None,
            filters=UserFilters(),
            include_total=False,
        )

    def test_carries_every_parameter(self):
        parameters = ListingParameters(
            limit=5,
            cursor="abc.def",
            search="ali",
            is_active=False,
            is_admin=True,
            email_verified=False,
            ordering="-username",
            include_total=True,
        )
        assert UserListQuery.of(parameters) == UserListQuery(
            ordering="-username",
            limit=5,
            cursor="abc.def",
            filters=UserFilters(search="ali", is_active=False, is_admin=True, email_verified=False),
            include_total=True,
        )

    @pytest.mark.parametrize("search", ["", "   ", None])
    def test_a_blank_search_is_no_search(self, search: str | None):
        assert UserListQuery.of(ListingParameters(search=search)).filters.search is None

    def test_the_search_is_trimmed(self):
        assert UserListQuery.of(ListingParameters(search="  ali ")).filters.search == "ali"

    def test_an_empty_cursor_is_the_first_page(self):
        assert UserListQuery.of(ListingParameters(cursor="")).cursor is None


class TestPageStatement:
    @pytest.mark.parametrize(
        ("ordering", "order_by"),
        [
            ("date_joined", 'ORDER BY "user".date_joined ASC, "user".id ASC'),
            ("-date_joined", 'ORDER BY "user".date_joined DESC, "user".id DESC'),
            ("username", 'ORDER BY lower("user".username) ASC'),
            ("-username", 'ORDER BY lower("user".username) DESC'),
        ],
    )
    def test_orders_by_a_unique_key(self, ordering: Ordering, order_by: str):
        assert order_by in sql(UserFilters(), ordering)

    def test_a_first_page_has_no_condition_and_no_offset(self):
        statement = sql(UserFilters(), "date_joined")
        assert "WHERE" not in statement
        assert "OFFSET" not in statement
        assert statement.endswith("LIMIT %(limit)s::INTEGER")

    @pytest.mark.parametrize(
        ("ordering", "bound"),
        [
            (
                "date_joined",
                '("user".date_joined, "user".id) > '
                "(%(after_0)s::TIMESTAMP WITH TIME ZONE, %(after_1)s::UUID)",
            ),
            (
                "-date_joined",
                '("user".date_joined, "user".id) < '
                "(%(after_0)s::TIMESTAMP WITH TIME ZONE, %(after_1)s::UUID)",
            ),
        ],
    )
    def test_a_later_date_page_starts_after_a_row_comparison(self, ordering: Ordering, bound):
        statement = sql(UserFilters(), ordering, JOINED)
        assert f"WHERE {bound} ORDER BY" in statement
        assert "OFFSET" not in statement

    @pytest.mark.parametrize(
        ("ordering", "bound"),
        [
            ("username", 'lower("user".username) > %(after_0)s'),
            ("-username", 'lower("user".username) < %(after_0)s'),
        ],
    )
    def test_a_later_username_page_starts_after_the_lowercased_name(self, ordering, bound):
        assert f"WHERE {bound} ORDER BY" in sql(UserFilters(), ordering, ("bob",))

    @pytest.mark.parametrize(
        ("filters", "condition"),
        [
            (UserFilters(is_active=True), 'WHERE "user".is_active ORDER'),
            (UserFilters(is_active=False), 'WHERE NOT "user".is_active ORDER'),
            (UserFilters(is_admin=True), 'WHERE "user".is_admin ORDER'),
            (UserFilters(is_admin=False), 'WHERE NOT "user".is_admin ORDER'),
            (UserFilters(email_verified=True), 'WHERE "user".email_verified ORDER'),
            (UserFilters(email_verified=False), 'WHERE NOT "user".email_verified ORDER'),
        ],
    )
    def test_a_flag_filter_is_the_bare_column(self, filters: UserFilters, condition: str):
        # Not "= true": the planner matches the bare column to the partial indexes.
        assert condition in sql(filters, "date_joined")

    def test_a_search_is_one_like_over_username_email_and_nickname(self):
        statement = sql(UserFilters(search="ali"), "username")
        assert (
            'WHERE lower("user".username || chr(31) || "user".email || chr(31) || '
            "\"user\".nickname) LIKE %(search)s::VARCHAR ESCAPE '\\' ORDER BY"
        ) in statement

    def test_filters_and_the_bound_are_all_required(self):
        filters = UserFilters(search="a", is_active=False, is_admin=True, email_verified=True)
        where = sql(filters, "-username", ("bob",)).split(" WHERE ")[1].split(" ORDER BY ")[0]
        assert where.count(" AND ") == 4
        assert " OR " not in where


class TestPageParameters:
    def test_a_first_page_binds_the_limit_only(self):
        assert page_parameters(UserFilters(), None, 21) == {"limit": 21}

    def test_binds_the_position_in_order(self):
        assert page_parameters(UserFilters(), JOINED, 21) == {
            "limit": 21,
            "after_0": JOINED[0],
            "after_1": JOINED[1],
        }

    @pytest.mark.parametrize(
        ("search", "pattern"),
        [
            ("Ali", "%ali%"),
            ("50%_off", "%50\\%\\_off%"),
            ("back\\slash", "%back\\\\slash%"),
            # U+001F separates the fields in the searched text: a search cannot span two.
            ("ali\x1fce", "%alice%"),
        ],
    )
    def test_the_search_is_a_lowercased_literal_substring(self, search: str, pattern: str):
        assert page_parameters(UserFilters(search=search), None, 21)["search"] == pattern
