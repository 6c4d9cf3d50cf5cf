"""GET /api/v1/users (admin): pages, cursors, ordering, search, filters, totals, access."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

USERS = "/api/v1/users"


async def _all_pages(
    client: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await client.get(USERS, headers=headers, params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append([u["username"] for u in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


class TestListUsers:
    async def test_first_page_has_items_and_next_cursor(
        self, users_client: httpx.AsyncClient, admin_headers, seed_users
    ):
        await seed_users(25)
        response = await users_client.get(USERS, headers=admin_headers)
        assert response.status_code == 200
        body = response.json()
        assert set(body) == {"items", "next_cursor"}
        assert len(body["items"]) == 20
        assert isinstance(body["next_cursor"], str)
        assert "password_hash" not in body["items"][0]

    @pytest.mark.parametrize(
        ("ordering", "expected"),
        [
            ("date_joined", [f"s{i:04d}" for i in range(23)]),
            ("-date_joined", [f"s{i:04d}" for i in reversed(range(23))]),
            ("username", [f"s{i:04d}" for i in range(23)]),
            ("-username", [f"s{i:04d}" for i in reversed(range(23))]),
        ],
    )
    async def test_cursor_walks_every_user_once_in_order(
        self, users_client: httpx.AsyncClient, admin_headers, seed_users, ordering, expected
    ):
        await seed_users(23, prefix="s")
        pages = await _all_pages(
            users_client, admin_headers, ordering=ordering, limit=5, search="s0"
        )
        assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
        assert [name for page in pages for name in page] == expected

    async def test_date_ties_are_broken_by_id(
        self, users_client: httpx.AsyncClient, admin_headers, seed_users, db_engine: AsyncEngine
    ):
        ids = await seed_users(7, prefix="tie")
        async with db_engine.begin() as conn:
            await conn.execute(text("""UPDATE "user" SET date_joined = '2026-02-02T00:00:00Z'"""))
        pages = await _all_pages(users_client, admin_headers, limit=2, search="tie")
        names = [name for page in pages for name in page]
        by_id = sorted(zip(ids, [f"tie{i:04d}" for i in range(7)], strict=True))
        assert names == [name for _, name in by_id]

    async def test_username_ordering_ignores_case(
        self, users_client: httpx.AsyncClient, admin_headers, register_user
    ):
        for name in ("Charlie", "alpha", "Bravo"):
            await register_user(name)
        response = await users_client.get(
            USERS, headers=admin_headers, params={"ordering": "username"}
        )
        names = [u["username"] for u in response.json()["items"]]
        assert names == ["alpha", "Bravo", "Charlie", "root-admin"]

    async def test_last_page_has_null_cursor(
        self, users_client: httpx.AsyncClient, admin_headers, seed_users
    ):
        await seed_users(3)
        response = await users_client.get(USERS, headers=admin_headers, params={"limit": 4})
        assert len(response.json()["items"]) == 4
        assert response.json()["next_cursor"] is None

    async def test_search_matches_username_email_and_nickname_in_any_case(
        self, users_client: httpx.AsyncClient, admin_headers, register_user
    ):
        await register_user("walrus", email="carpenter@sea.example")
        await register_user("oyster", nickname="Little WALRUS")
        await register_user("mock", email="turtle+walrus@example.com")
        await register_user("hatter")
        response = await users_client.get(
            USERS, headers=admin_headers, params={"search": "WalRus", "ordering": "username"}
        )
        assert [u["username"] for u in response.json()["items"]] == ["mock", "oyster", "walrus"]
        by_email = await users_client.get(
            USERS, headers=admin_headers, params={"search": "CARPENTER"}
        )
        assert [u["username"] for u in by_email.json()["items"]] == ["walrus"]

    async def test_search_treats_like_wildcards_literally(
        self, users_client: httpx.AsyncClient, admin_headers, register_user
    ):
        await register_user("under_score")
        await register_user("underXscore")
        for term in ("r_s", "%"):
            response = await users_client.get(USERS, headers=admin_headers, params={"search": term})
            names = [u["username"] for u in response.json()["items"]]
            assert names == (["under_score"] if term == "r_s" else []), term

    async def test_filters_on_is_active(
        self, users_client: httpx.AsyncClient, admin_headers, seed_users
    ):
        await seed_users(3, prefix="gone", is_active=False)
        await seed_users(2, prefix="here")
        inactive = await users_client.get(
            USERS, headers=admin_headers, params={"is_active": "false"}
        )
        assert [u["username"] for u in inactive.json()["items"]] == [
            "gone0000",
            "gone0001",
            "gone0002",
        ]
        active = await users_client.get(USERS, headers=admin_headers, params={"is_active": "true"})
        assert {u["username"] for u in active.json()["items"]} == {
            "here0000",
            "here0001",
            "root-admin",
        }

    async def test_filters_on_is_admin(
        self, users_client: httpx.AsyncClient, admin_headers, seed_users
    ):
        await seed_users(2, prefix="boss", is_admin=True)
        await seed_users(2, prefix="crew")
        admins = await users_client.get(
            USERS, headers=admin_headers, params={"is_admin": "true", "ordering": "-username"}
        )
        assert [u["username"] for u in admins.json()["items"]] == [
            "root-admin",
            "boss0001",
            "boss0000",
        ]
        others = await users_client.get(USERS, headers=admin_headers, params={"is_admin": "false"})
        assert [u["username"] for u in others.json()["items"]] == ["crew0000", "crew0001"]

    async def test_filters_on_email_verified(
        self, users_client: httpx.AsyncClient, admin_headers, seed_users
    ):
        await seed_users(2, prefix="proven", email_verified=True)
        await seed_users(3, prefix="unproven")
        for value, prefix, count in (("true", "proven", 2), ("false", "unproven", 3)):
            response = await users_client.get(
                USERS,
                headers=admin_headers,
                params={"email_verified": value, "ordering": "username", "include_total": "true"},
            )
            assert response.status_code == 200, response.text
            items = response.json()["items"]
            assert all(u["email_verified"] is (value == "true") for u in items)
            seeded = [u["username"] for u in items if u["username"] != "root-admin"]
            assert seeded == [f"{prefix}{i:04d}" for i in range(count)]
            assert response.json()["total"] == len(items)

    async def test_include_total_counts_every_match(
        self, users_client: httpx.AsyncClient, admin_headers, seed_users
    ):
        await seed_users(30, prefix="t")
        response = await users_client.get(
            USERS,
            headers=admin_headers,
            params={"include_total": "true", "limit": 10, "search": "t0"},
        )
        body = response.json()
        assert body["total"] == 30
        assert len(body["items"]) == 10

    @pytest.mark.parametrize("limit", ["0", "101", "x"])
    async def test_limit_out_of_range_is_422(
        self, users_client: httpx.AsyncClient, admin_headers, limit
    ):
        response = await users_client.get(USERS, headers=admin_headers, params={"limit": limit})
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "limit"

    async def test_limit_100_is_allowed(self, users_client: httpx.AsyncClient, admin_headers):
        response = await users_client.get(USERS, headers=admin_headers, params={"limit": 100})
        assert response.status_code == 200

    async def test_unknown_ordering_is_422(self, users_client: httpx.AsyncClient, admin_headers):
        response = await users_client.get(
            USERS, headers=admin_headers, params={"ordering": "email"}
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["field"] == "ordering"

    @pytest.mark.parametrize(
        "cursor",
        ["garbage", "a.b.c", "!!!.???", "e30.AAAA", "x" * 1025],
        ids=["no-dot", "two-dots", "not-base64", "bad-mac", "too-long"],
    )
    async def test_malformed_cursor_is_422_invalid_cursor(
        self, users_client: httpx.AsyncClient, admin_headers, cursor
    ):
        response = await users_client.get(USERS, headers=admin_headers, params={"cursor": cursor})
        assert response.status_code == 422
        assert response.json()["code"] in {"invalid_cursor", "validation_failed"}
        assert response.json()["errors"][0]["field"] == "cursor"

    async def test_tampered_cursor_is_422_invalid_cursor(
        self, users_client: httpx.AsyncClient, admin_headers, seed_users
    ):
        await seed_users(5)
        first = await users_client.get(USERS, headers=admin_headers, params={"limit": 2})
        payload, mac = first.json()["next_cursor"].split(".")
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        data["k"][1] = str(uuid.uuid4())
        forged = base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
        response = await users_client.get(
            USERS, headers=admin_headers, params={"cursor": f"{forged}.{mac}", "limit": 2}
        )
        assert response.status_code == 422
        assert response.json()["code"] == "invalid_cursor"

    async def test_cursor_of_another_ordering_is_422(
        self, users_client: httpx.AsyncClient, admin_headers, seed_users
    ):
        await seed_users(5)
        first = await users_client.get(USERS, headers=admin_headers, params={"limit": 2})
        response = await users_client.get(
            USERS,
            headers=admin_headers,
            params={"cursor": first.json()["next_cursor"], "ordering": "username"},
        )
        assert response.status_code == 422
        assert response.json()["code"] == "invalid_cursor"

    async def test_non_admin_is_403(self, users_client: httpx.AsyncClient, auth_headers):
        response = await users_client.get(USERS, headers=auth_headers)
        assert response.status_code == 403
        assert response.json()["code"] == "forbidden"

    async def test_without_token_is_401(self, users_client: httpx.AsyncClient):
        response = await users_client.get(USERS)
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"

    async def test_admin_claim_without_admin_row_is_403(
        self, users_client: httpx.AsyncClient, admin, admin_headers, db_engine: AsyncEngine
    ):
        # The row is the truth: demoted behind the service's back, the admin token no longer works.
        async with db_engine.begin() as conn:
            await conn.execute(
                text('UPDATE "user" SET is_admin = false WHERE id = :id'), {"id": admin["id"]}
            )
        response = await users_client.get(USERS, headers=admin_headers)
        assert response.status_code == 403
        assert response.json()["code"] == "forbidden"

    async def test_admin_whose_row_is_inactive_is_401(
        self, users_client: httpx.AsyncClient, admin, admin_headers, db_engine: AsyncEngine
    ):
        async with db_engine.begin() as conn:
            await conn.execute(
                text('UPDATE "user" SET is_active = false WHERE id = :id'), {"id": admin["id"]}
            )
        response = await users_client.get(USERS, headers=admin_headers)
        assert response.status_code == 401
        assert response.json()["code"] == "token_revoked"


class TestKind:
    """``kind=person|service`` and each listed user's ``is_service``: service accounts are
    ``user`` rows too (docs/service-accounts.md), told apart from people."""

    async def test_each_user_says_whether_it_is_a_service_account(
        self, users_client: httpx.AsyncClient, admin_headers, seed_users
    ):
        (robot,) = await seed_users(1, prefix="robot", is_service=True)
        (person,) = await seed_users(1, prefix="person")
        listed = await users_client.get(USERS, headers=admin_headers, params={"limit": 100})
        assert listed.status_code == 200, listed.text
        flags = {u["username"]: u["is_service"] for u in listed.json()["items"]}
        assert flags == {"robot0000": True, "person0000": False, "root-admin": False}
        for user_id, expected in ((robot, True), (person, False)):
            one = await users_client.get(f"{USERS}/{user_id}", headers=admin_headers)
            assert one.status_code == 200, one.text
            assert one.json()["is_service"] is expected

    @pytest.mark.parametrize(
        ("kind", "expected"),
        [
            ("service", ["robot0000", "robot0001", "robot0002"]),
            ("person", ["human0000", "human0001", "root-admin"]),
            (None, ["human0000", "human0001", "robot0000", "robot0001", "robot0002", "root-admin"]),
        ],
    )
    async def test_kind_filters_people_or_service_accounts(
        self, users_client: httpx.AsyncClient, admin_headers, seed_users, kind, expected
    ):
        await seed_users(3, prefix="robot", is_service=True)
        await seed_users(2, prefix="human")
        params = {"ordering": "username", "include_total": "true"}
        if kind:
            params["kind"] = kind
        response = await users_client.get(USERS, headers=admin_headers, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert [u["username"] for u in body["items"]] == expected
        assert body["total"] == len(expected)

    async def test_kind_composes_with_the_other_filters_and_search(
        self, users_client: httpx.AsyncClient, admin_headers, seed_users
    ):
        await seed_users(2, prefix="robot", is_service=True)
        await seed_users(2, prefix="robotgone", is_service=True, is_active=False)
        await seed_users(2, prefix="robotic", is_active=False)  # people whose name matches
        response = await users_client.get(
            USERS,
            headers=admin_headers,
            params={
                "kind": "service",
                "is_active": "false",
                "search": "ROBOT",
                "ordering": "-username",
            },
        )
        assert response.status_code == 200, response.text
        assert [u["username"] for u in response.json()["items"]] == [
            "robotgone0001",
            "robotgone0000",
        ]
        people = await users_client.get(
            USERS,
            headers=admin_headers,
            params={"kind": "person", "is_active": "false", "search": "robot"},
        )
        assert [u["username"] for u in people.json()["items"]] == ["robotic0000", "robotic0001"]

    @pytest.mark.parametrize("ordering", ["date_joined", "-date_joined", "username", "-username"])
    async def test_the_cursor_pages_through_the_filtered_rows_only(
        self, users_client: httpx.AsyncClient, admin_headers, seed_users, db_engine, ordering
    ):
        robots = [f"robot{i:04d}" for i in range(7)]
        await seed_users(7, prefix="robot", is_service=True)
        await seed_users(9, prefix="people")
        # People joined between the robots: a page of robots must skip them, not stop short.
        async with db_engine.begin() as conn:
            await conn.execute(
                text(
                    """UPDATE "user" SET date_joined = date_joined + interval '30 seconds'
                       WHERE username LIKE 'people%'"""
                )
            )
        pages = await _all_pages(
            users_client, admin_headers, kind="service", ordering=ordering, limit=2
        )
        assert [len(page) for page in pages] == [2, 2, 2, 1]
        names = [name for page in pages for name in page]
        assert names == (list(reversed(robots)) if ordering.startswith("-") else robots)

    @pytest.mark.parametrize("kind", ["robot", "", "SERVICE", "people"])
    async def test_an_unknown_kind_is_422(
        self, users_client: httpx.AsyncClient, admin_headers, kind
    ):
        response = await users_client.get(USERS, headers=admin_headers, params={"kind": kind})
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert body["code"] == "validation_failed"
        assert [e["field"] for e in body["errors"]] == ["kind"]
