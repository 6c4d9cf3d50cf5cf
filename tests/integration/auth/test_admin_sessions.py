"""GET /admin/users/{id}/sessions, DELETE /admin/users/{id}/sessions[/{session_id}]: an
administrator listing and ending another user's sessions, seen by both services."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from structlog.testing import capture_logs

from tests.fixtures.apps import PASSWORD, bearer
from tests.fixtures.jwt import unverified

VERIFY = "/api/v1/auth/verify"
REFRESH = "/api/v1/auth/refresh"
ME = "/api/v1/users/me"
# A fixed id, so that test ids are the same in every run and every xdist worker.
SOME_SESSION = uuid.UUID("00000000-0000-4000-8000-000000000001")


def sessions_of(user_id: str) -> str:
    return f"/api/v1/auth/admin/users/{user_id}/sessions"


def sid(tokens: dict[str, Any]) -> str:
    _, claims = unverified(tokens["access_token"])
    session_id: str = claims["sid"]
    return session_id


async def login_from(client: httpx.AsyncClient, username: str, user_agent: str) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/auth/login",
        json={"username": username, "password": PASSWORD},
        headers={"User-Agent": user_agent},
    )
    assert response.status_code == 200, response.text
    pair: dict[str, Any] = response.json()
    return pair


async def refused(client: httpx.AsyncClient, tokens: dict[str, Any]) -> bool:
    """Whether the access token is refused as revoked and the refresh token refused."""
    check = await client.get(VERIFY, headers=bearer(tokens))
    again = await client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
    return (check.status_code, check.json()["code"], again.status_code) == (
        401,
        "token_revoked",
        401,
    )


async def revoked_reasons(db_engine: AsyncEngine, user_id: str) -> list[str | None]:
    async with db_engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT revoked_reason FROM login_session WHERE user_id = :u"),
            {"u": uuid.UUID(user_id)},
        )
        return [reason for (reason,) in rows]


class TestAdminOnly:
    @pytest.mark.parametrize(
        ("method", "suffix"), [("GET", ""), ("DELETE", ""), ("DELETE", f"/{SOME_SESSION}")]
    )
    async def test_non_admin_is_403(
        self, auth_client: httpx.AsyncClient, user, user_tokens, method: str, suffix: str
    ):
        response = await auth_client.request(
            method, sessions_of(user["id"]) + suffix, headers=bearer(user_tokens)
        )
        assert response.status_code == 403
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "forbidden"
        # Not even their own sessions: the self-service endpoints are for that.
        assert (await auth_client.get(VERIFY, headers=bearer(user_tokens))).status_code == 200

    @pytest.mark.parametrize(
        ("method", "suffix"), [("GET", ""), ("DELETE", ""), ("DELETE", f"/{SOME_SESSION}")]
    )
    async def test_no_token_is_401(
        self, auth_client: httpx.AsyncClient, user, method: str, suffix: str
    ):
        response = await auth_client.request(method, sessions_of(user["id"]) + suffix)
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"
        assert response.headers["www-authenticate"] == "Bearer"


class TestTheAdminsRowDecides:
    """An admin deactivated or demoted by a path that does not revoke their tokens (a
    direct database change, say) loses the powers with the row, not when the token ends."""

    @pytest.mark.parametrize(
        ("column", "status", "code"),
        [("is_active", 401, "token_revoked"), ("is_admin", 403, "forbidden")],
    )
    @pytest.mark.parametrize(
        ("method", "suffix"), [("GET", ""), ("DELETE", ""), ("DELETE", "/{sid}")]
    )
    async def test_a_changed_row_loses_the_powers(
        self,
        auth_client: httpx.AsyncClient,
        db_engine: AsyncEngine,
        user,
        user_tokens,
        admin,
        admin_tokens,
        column: str,
        status: int,
        code: str,
        method: str,
        suffix: str,
    ):
        async with db_engine.begin() as conn:
            await conn.execute(
                text(f'UPDATE "user" SET {column} = false WHERE id = :id'),
                {"id": uuid.UUID(admin["id"])},
            )
        path = sessions_of(user["id"]) + suffix.format(sid=sid(user_tokens))
        response = await auth_client.request(method, path, headers=bearer(admin_tokens))
        assert (response.status_code, response.json()["code"]) == (status, code)
        assert (await auth_client.get(VERIFY, headers=bearer(user_tokens))).status_code == 200


class TestOpenApi:
    async def test_documents_the_three_operations_and_their_errors(
        self, auth_client: httpx.AsyncClient
    ):
        paths = (await auth_client.get("/api/v1/auth/openapi.json")).json()["paths"]
        many = paths["/api/v1/auth/admin/users/{user_id}/sessions"]
        one = paths["/api/v1/auth/admin/users/{user_id}/sessions/{session_id}"]
        assert set(many) == {"get", "delete"}
        assert set(one) == {"delete"}
        for operation in (many["get"], many["delete"], one["delete"]):
            assert {"401", "403", "404", "422"} <= set(operation["responses"])
            assert "user_not_found" in operation["responses"]["404"]["description"]
        assert "session_not_found" in one["delete"]["responses"]["404"]["description"]


class TestAdminListSessions:
    async def test_lists_the_users_active_sessions_newest_first(
        self, auth_client: httpx.AsyncClient, user, admin_tokens
    ):
        ended = await login_from(auth_client, "alice", "Laptop/1.0")
        older = await login_from(auth_client, "alice", "Phone/2.0")
        newer = await login_from(auth_client, "alice", "Tablet/3.0")
        await auth_client.post(
            "/api/v1/auth/logout", json={"refresh_token": ended["refresh_token"]}
        )
        response = await auth_client.get(sessions_of(user["id"]), headers=bearer(admin_tokens))
        assert response.status_code == 200
        listed = response.json()
        assert [s["id"] for s in listed] == [sid(newer), sid(older)]
        assert [s["user_agent"] for s in listed] == ["Tablet/3.0", "Phone/2.0"]
        assert {s["ip"] for s in listed} == {"127.0.0.1"}
        # The caller's own token belongs to none of them.
        assert [s["current"] for s in listed] == [False, False]
        # The same fields as the user's own listing.
        own = (await auth_client.get("/api/v1/auth/sessions", headers=bearer(newer))).json()
        assert all(set(s) == set(own[0]) for s in listed)

    async def test_current_marks_the_admins_own_session(
        self, auth_client: httpx.AsyncClient, admin, admin_tokens, login
    ):
        other = await login(admin["username"])
        response = await auth_client.get(sessions_of(admin["id"]), headers=bearer(admin_tokens))
        assert response.status_code == 200
        current = {s["id"]: s["current"] for s in response.json()}
        assert current == {sid(admin_tokens): True, sid(other): False}

    async def test_a_user_without_sessions_is_an_empty_list(
        self, auth_client: httpx.AsyncClient, register_user, admin_tokens
    ):
        quiet = await register_user("quiet")
        response = await auth_client.get(sessions_of(quiet["id"]), headers=bearer(admin_tokens))
        assert response.status_code == 200
        assert response.json() == []

    async def test_unknown_user_is_404(self, auth_client: httpx.AsyncClient, admin_tokens):
        response = await auth_client.get(
            sessions_of(str(uuid.uuid4())), headers=bearer(admin_tokens)
        )
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "user_not_found"

    async def test_malformed_user_id_is_422(self, auth_client: httpx.AsyncClient, admin_tokens):
        response = await auth_client.get(sessions_of("not-a-uuid"), headers=bearer(admin_tokens))
        assert response.status_code == 422
        assert response.json()["code"] == "validation_failed"

    async def test_is_audited(
        self, auth_client: httpx.AsyncClient, user, user_tokens, admin_tokens
    ):
        with capture_logs() as logs:
            response = await auth_client.get(sessions_of(user["id"]), headers=bearer(admin_tokens))
        assert response.status_code == 200
        (event,) = [e for e in logs if e["event"] == "admin_sessions_listed"]
        _, claims = unverified(admin_tokens["access_token"])
        assert event["actor_id"] == claims["sub"]
        assert event["user_id"] == user["id"]
        assert event["count"] == 1
        assert "session_id" not in event


class TestAdminDeleteSession:
    async def test_ends_that_session_in_both_services(
        self,
        users_client: httpx.AsyncClient,
        auth_client: httpx.AsyncClient,
        user,
        login,
        admin_tokens,
        db_engine: AsyncEngine,
    ):
        drop, keep = await login("alice"), await login("alice")
        assert (await users_client.get(ME, headers=bearer(drop))).status_code == 200
        response = await auth_client.delete(
            f"{sessions_of(user['id'])}/{sid(drop)}", headers=bearer(admin_tokens)
        )
        assert response.status_code == 204
        assert response.content == b""
        rejected = await users_client.get(ME, headers=bearer(drop))
        assert (rejected.status_code, rejected.json()["code"]) == (401, "token_revoked")
        assert await refused(auth_client, drop)
        # The user's other session keeps working, refresh included.
        assert (await users_client.get(ME, headers=bearer(keep))).status_code == 200
        assert (await auth_client.get(VERIFY, headers=bearer(keep))).status_code == 200
        rotated = await auth_client.post(REFRESH, json={"refresh_token": keep["refresh_token"]})
        assert rotated.status_code == 200
        listed = (
            await auth_client.get(sessions_of(user["id"]), headers=bearer(admin_tokens))
        ).json()
        assert [s["id"] for s in listed] == [sid(keep)]
        assert sorted(await revoked_reasons(db_engine, user["id"]), key=str) == [
            None,
            "revoked_by_admin",
        ]

    async def test_another_users_session_is_404_and_keeps_working(
        self, auth_client: httpx.AsyncClient, user, user_tokens, other_user, login, admin_tokens
    ):
        bobs = await login(other_user["username"])
        response = await auth_client.delete(
            f"{sessions_of(user['id'])}/{sid(bobs)}", headers=bearer(admin_tokens)
        )
        assert response.status_code == 404
        assert response.json()["code"] == "session_not_found"
        assert (await auth_client.get(VERIFY, headers=bearer(bobs))).status_code == 200
        assert (await auth_client.get(VERIFY, headers=bearer(user_tokens))).status_code == 200

    async def test_an_ended_session_is_404(
        self, auth_client: httpx.AsyncClient, user, user_tokens, admin_tokens
    ):
        path = f"{sessions_of(user['id'])}/{sid(user_tokens)}"
        assert (await auth_client.delete(path, headers=bearer(admin_tokens))).status_code == 204
        again = await auth_client.delete(path, headers=bearer(admin_tokens))
        assert again.status_code == 404
        assert again.json()["code"] == "session_not_found"

    async def test_an_expired_session_is_still_revoked(
        self, auth_client: httpx.AsyncClient, user, user_tokens, admin_tokens, db_engine
    ):
        """Past its expiry but never revoked: not listed, yet ended all the same, as the
        self-service delete does (an access token minted just before may still be live)."""
        async with db_engine.begin() as conn:
            await conn.execute(
                text(
                    "UPDATE login_session SET expires_at = now() - interval '1 second'"
                    " WHERE id = :sid"
                ),
                {"sid": uuid.UUID(sid(user_tokens))},
            )
        listed = await auth_client.get(sessions_of(user["id"]), headers=bearer(admin_tokens))
        assert listed.json() == []
        response = await auth_client.delete(
            f"{sessions_of(user['id'])}/{sid(user_tokens)}", headers=bearer(admin_tokens)
        )
        assert response.status_code == 204
        assert await refused(auth_client, user_tokens)

    async def test_unknown_session_is_404(self, auth_client: httpx.AsyncClient, user, admin_tokens):
        response = await auth_client.delete(
            f"{sessions_of(user['id'])}/{uuid.uuid4()}", headers=bearer(admin_tokens)
        )
        assert response.status_code == 404
        assert response.json()["code"] == "session_not_found"

    async def test_unknown_user_is_404(
        self, auth_client: httpx.AsyncClient, user_tokens, admin_tokens
    ):
        response = await auth_client.delete(
            f"{sessions_of(str(uuid.uuid4()))}/{sid(user_tokens)}", headers=bearer(admin_tokens)
        )
        assert response.status_code == 404
        assert response.json()["code"] == "user_not_found"
        assert (await auth_client.get(VERIFY, headers=bearer(user_tokens))).status_code == 200

    @pytest.mark.parametrize("bad", ["user", "session"])
    async def test_malformed_id_is_422(
        self, auth_client: httpx.AsyncClient, user, admin_tokens, bad: str
    ):
        user_id = "nope" if bad == "user" else user["id"]
        session_id = "nope" if bad == "session" else str(uuid.uuid4())
        response = await auth_client.delete(
            f"{sessions_of(user_id)}/{session_id}", headers=bearer(admin_tokens)
        )
        assert response.status_code == 422

    async def test_is_audited_without_tokens(
        self, auth_client: httpx.AsyncClient, user, user_tokens, admin_tokens
    ):
        with capture_logs() as logs:
            response = await auth_client.delete(
                f"{sessions_of(user['id'])}/{sid(user_tokens)}", headers=bearer(admin_tokens)
            )
        assert response.status_code == 204
        (event,) = [e for e in logs if e["event"] == "admin_session_ended"]
        _, claims = unverified(admin_tokens["access_token"])
        assert event["actor_id"] == claims["sub"]
        assert event["user_id"] == user["id"]
        assert event["session_id"] == sid(user_tokens)
        logged = repr(logs)
        for secret in (*user_tokens.values(), *admin_tokens.values()):
            if isinstance(secret, str) and len(secret) > 20:
                assert secret not in logged

    async def test_a_failed_request_is_not_audited(
        self, auth_client: httpx.AsyncClient, user, admin_tokens
    ):
        with capture_logs() as logs:
            response = await auth_client.delete(
                f"{sessions_of(user['id'])}/{uuid.uuid4()}", headers=bearer(admin_tokens)
            )
        assert response.status_code == 404
        assert not [e for e in logs if e["event"] == "admin_session_ended"]

    async def test_racing_a_refresh_leaves_no_working_token(
        self, auth_client: httpx.AsyncClient, user, user_tokens, admin_tokens
    ):
        """The end and a refresh of the same session at once, ten times: whichever wins,
        no token of that session works afterwards, new or old."""
        outcomes: Counter[int] = Counter()

        async def refresh(tokens: dict[str, Any], delay: float) -> httpx.Response:
            await asyncio.sleep(delay)
            return await auth_client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})

        # The refresh starts a little later each round, so either may win, or interleave.
        for round_ in range(10):
            tokens = await login_from(auth_client, "alice", "Racer/1.0")
            ended, rotated = await asyncio.gather(
                auth_client.delete(
                    f"{sessions_of(user['id'])}/{sid(tokens)}", headers=bearer(admin_tokens)
                ),
                refresh(tokens, round_ * 0.0005),
            )
            assert ended.status_code == 204
            assert rotated.status_code in {200, 401}
            outcomes[rotated.status_code] += 1
            pairs = [tokens, rotated.json()] if rotated.status_code == 200 else [tokens]
            for pair in pairs:
                assert await refused(auth_client, pair)
        print(f"10 ends racing a refresh, the refresh answered: {dict(outcomes)}")
        assert (await auth_client.get(VERIFY, headers=bearer(user_tokens))).status_code == 200


class TestAdminDeleteSessions:
    async def test_ends_every_session_in_both_services(
        self,
        users_client: httpx.AsyncClient,
        auth_client: httpx.AsyncClient,
        user,
        login,
        other_user,
        admin_tokens,
        db_engine: AsyncEngine,
    ):
        pairs = [await login("alice") for _ in range(3)]
        bobs = await login(other_user["username"])
        response = await auth_client.delete(sessions_of(user["id"]), headers=bearer(admin_tokens))
        assert response.status_code == 204
        for pair in pairs:
            assert (await users_client.get(ME, headers=bearer(pair))).status_code == 401
            assert await refused(auth_client, pair)
        assert await revoked_reasons(db_engine, user["id"]) == ["logout_all_by_admin"] * 3
        # Only that user: another user and the admin keep theirs; the user can log in again.
        assert (await users_client.get(ME, headers=bearer(bobs))).status_code == 200
        assert (await auth_client.get(VERIFY, headers=bearer(admin_tokens))).status_code == 200
        fresh = await login("alice")
        assert (await users_client.get(ME, headers=bearer(fresh))).status_code == 200

    async def test_a_user_without_sessions_is_204(
        self, auth_client: httpx.AsyncClient, register_user, admin_tokens
    ):
        quiet = await register_user("quiet")
        response = await auth_client.delete(sessions_of(quiet["id"]), headers=bearer(admin_tokens))
        assert response.status_code == 204

    async def test_unknown_user_is_404(self, auth_client: httpx.AsyncClient, admin_tokens):
        response = await auth_client.delete(
            sessions_of(str(uuid.uuid4())), headers=bearer(admin_tokens)
        )
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "user_not_found"

    async def test_malformed_user_id_is_422(self, auth_client: httpx.AsyncClient, admin_tokens):
        response = await auth_client.delete(sessions_of("nope"), headers=bearer(admin_tokens))
        assert response.status_code == 422

    async def test_is_audited(self, auth_client: httpx.AsyncClient, user, login, admin_tokens):
        await login("alice")
        await login("alice")
        with capture_logs() as logs:
            response = await auth_client.delete(
                sessions_of(user["id"]), headers=bearer(admin_tokens)
            )
        assert response.status_code == 204
        (event,) = [e for e in logs if e["event"] == "admin_sessions_ended"]
        _, claims = unverified(admin_tokens["access_token"])
        assert event["actor_id"] == claims["sub"]
        assert event["user_id"] == user["id"]
        assert event["count"] == 2
