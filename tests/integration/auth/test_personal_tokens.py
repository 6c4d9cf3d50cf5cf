"""Personal access tokens: creation behind step-up (shown once, stored hashed, scope and
expiry bounded), listing, last use written in batches, revocation one by one (owner, admin)
and all at once (deactivation, password reset), use as a Bearer in both services and at
``/verify``, failing closed without Redis, and the RFC 8693 exchange at ``/token``."""

from __future__ import annotations

import asyncio
import hashlib
import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from structlog.testing import capture_logs

from tessera_core.tokens.pat import PAT_PATTERN
from tests.fixtures.apps import (
    PASSWORD,
    aged,
    bearer,
    lifespan_state,
    register_and_login,
    running,
)
from tests.fixtures.jwt import unverified
from tests.fixtures.servers import LocalRedis

TOKENS = "/api/v1/auth/tokens"
VERIFY = "/api/v1/auth/verify"
ME = "/api/v1/users/me"
TOKEN = "/api/v1/auth/token"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"


def pat_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def create(
    client: httpx.AsyncClient, pair: dict[str, Any], scope: str = "profile:read", **body: Any
) -> httpx.Response:
    return await client.post(
        TOKENS, json={"name": "ci", "scope": scope, **body}, headers=bearer(pair)
    )


async def new_pat(client: httpx.AsyncClient, pair: dict[str, Any], **body: Any) -> dict[str, Any]:
    response = await create(client, pair, **body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def mail_kinds(db_engine: AsyncEngine, recipient: str) -> list[str]:
    async with db_engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT kind FROM mail_outbox WHERE recipient = :r ORDER BY created_at"),
            {"r": recipient},
        )
        return [kind for (kind,) in rows]


async def exchange(client: httpx.AsyncClient, subject: str, **form: str) -> httpx.Response:
    return await client.post(
        TOKEN,
        data={
            "grant_type": EXCHANGE,
            "subject_token": subject,
            "subject_token_type": ACCESS_TOKEN_TYPE,
            **form,
        },
    )


class TestCreate:
    async def test_shown_once_and_stored_as_its_sha256(
        self, auth_client, user_tokens, db_engine: AsyncEngine
    ):
        response = await create(auth_client, user_tokens, expires_in_days=7)
        assert response.status_code == 201, response.text
        assert response.headers["cache-control"] == "no-store"
        created = response.json()
        assert re.fullmatch(PAT_PATTERN, created["token"])
        assert (created["name"], created["scope"], created["last_used_at"]) == (
            "ci",
            "profile:read",
            None,
        )
        async with db_engine.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT p.token_hash, s.amr, s.scope FROM personal_access_token p"
                        " JOIN login_session s ON s.id = p.session_id"
                    )
                )
            ).one()
        assert bytes(row.token_hash) == hashlib.sha256(created["token"].encode()).digest()
        assert (row.amr, row.scope) == (["pat"], "profile:read")
        listed = await auth_client.get(TOKENS, headers=bearer(user_tokens))
        assert created["token"] not in listed.text
        assert [t["id"] for t in listed.json()] == [created["id"]]
        assert "token" not in listed.json()[0]

    async def test_needs_a_recent_login(self, auth_client, db_engine: AsyncEngine):
        pair = await aged(auth_client, db_engine, await register_and_login(auth_client, "ola"), 601)
        refused = await create(auth_client, pair)
        assert (refused.status_code, refused.json()["code"]) == (
            401,
            "insufficient_user_authentication",
        )

    async def test_a_personal_token_cannot_create_one(self, auth_client, user_tokens):
        pat = await new_pat(auth_client, user_tokens, scope="profile:read profile:write")
        refused = await auth_client.post(
            TOKENS,
            json={"name": "again", "scope": "profile:read"},
            headers=pat_headers(pat["token"]),
        )
        assert (refused.status_code, refused.json()["code"]) == (
            401,
            "insufficient_user_authentication",
        )
        listed = await auth_client.get(TOKENS, headers=bearer(user_tokens))
        assert len(listed.json()) == 1

    @pytest.mark.parametrize(
        ("scope", "says"),
        [("users:read", "cannot grant users:read"), ("profile:read repo:all", "unknown scope")],
    )
    async def test_a_scope_beyond_the_callers_is_400(self, auth_client, user_tokens, scope, says):
        refused = await create(auth_client, user_tokens, scope=scope)
        assert (refused.status_code, refused.json()["code"]) == (400, "invalid_scope")
        assert says in refused.json()["detail"]

    async def test_an_admin_may_grant_admin_scopes(self, auth_client, admin_tokens):
        created = await new_pat(auth_client, admin_tokens, scope="users:read")
        assert created["scope"] == "users:read"

    async def test_a_narrowed_login_cannot_grant_more_than_it_holds(self, auth_client, user):
        narrowed = await auth_client.post(
            TOKEN,
            data={
                "grant_type": "password",
                "username": "alice",
                "password": PASSWORD,
                "scope": "profile:write",
            },
        )
        refused = await create(auth_client, narrowed.json(), scope="profile:read")
        assert (refused.status_code, refused.json()["code"]) == (400, "invalid_scope")

    async def test_the_expiry_is_bounded(self, auth_client, user_tokens):
        refused = await create(auth_client, user_tokens, expires_in_days=366)
        assert (refused.status_code, refused.json()["code"]) == (422, "expiry_too_long")
        assert refused.json()["errors"][0]["field"] == "expires_in_days"
        accepted = await create(auth_client, user_tokens, expires_in_days=365)
        assert accepted.status_code == 201

    async def test_the_owner_is_mailed(self, auth_client, user, user_tokens, db_engine):
        await new_pat(auth_client, user_tokens)
        assert (await mail_kinds(db_engine, user["email"]))[-1] == "personal_token_created"


class TestList:
    async def test_own_tokens_only_and_not_among_sessions(
        self, auth_client, user_tokens, admin_tokens
    ):
        mine = await new_pat(auth_client, user_tokens, name="mine")
        await new_pat(auth_client, admin_tokens, name="theirs")
        listed = await auth_client.get(TOKENS, headers=bearer(user_tokens))
        assert [t["name"] for t in listed.json()] == ["mine"]
        assert set(listed.json()[0]) == {
            "id",
            "name",
            "scope",
            "created_at",
            "expires_at",
            "last_used_at",
        }
        sessions = await auth_client.get("/api/v1/auth/sessions", headers=bearer(user_tokens))
        sids = [s["id"] for s in sessions.json()]
        assert sids == [unverified(user_tokens["access_token"])[1]["sid"]]
        # Its session is not one DELETE /sessions/{id} ends: /tokens does, and tells the owner.
        pat_sid = (await auth_client.get(VERIFY, headers=pat_headers(mine["token"]))).headers[
            "x-auth-session-id"
        ]
        refused = await auth_client.delete(
            f"/api/v1/auth/sessions/{pat_sid}", headers=bearer(user_tokens)
        )
        assert (refused.status_code, refused.json()["code"]) == (404, "session_not_found")


class TestLastUsed:
    async def test_written_by_a_flush_not_by_each_request(
        self, auth_app: FastAPI, auth_client, user_tokens, db_engine
    ):
        pat = await new_pat(auth_client, user_tokens)
        for _ in range(3):
            assert (
                await auth_client.get(VERIFY, headers=pat_headers(pat["token"]))
            ).status_code == 200
        listed = await auth_client.get(TOKENS, headers=bearer(user_tokens))
        assert listed.json()[0]["last_used_at"] is None
        personal = lifespan_state(auth_app)["core"].verifier.personal
        assert await personal.flush() == 1
        listed = await auth_client.get(TOKENS, headers=bearer(user_tokens))
        assert listed.json()[0]["last_used_at"] is not None
        assert listed.json()[0]["last_used_at"] >= pat["created_at"]
        assert await personal.flush() == 0


class TestAsBearer:
    async def test_verify_sends_its_identity_and_scope(self, auth_client, user, user_tokens):
        pat = await new_pat(auth_client, user_tokens, scope="profile:read sessions:write")
        response = await auth_client.get(VERIFY, headers=pat_headers(pat["token"]))
        assert response.status_code == 200
        assert response.headers["x-auth-user-id"] == user["id"]
        assert response.headers["x-auth-username"] == "alice"
        assert response.headers["x-auth-scope"] == "profile:read sessions:write"
        required = await auth_client.get(
            VERIFY, params={"scope": "profile:write"}, headers=pat_headers(pat["token"])
        )
        assert (required.status_code, required.json()["code"]) == (403, "insufficient_scope")

    async def test_users_me_and_a_narrower_scope(
        self, auth_client, users_client, user, user_tokens
    ):
        pat = await new_pat(auth_client, user_tokens, scope="profile:read")
        me = await users_client.get(ME, headers=pat_headers(pat["token"]))
        assert (me.status_code, me.json()["id"]) == (200, user["id"])
        refused = await users_client.patch(
            ME, json={"nickname": "x"}, headers=pat_headers(pat["token"])
        )
        assert (refused.status_code, refused.json()["code"]) == (403, "insufficient_scope")
        assert refused.headers["www-authenticate"] == (
            'Bearer error="insufficient_scope", scope="profile:write"'
        )

    async def test_requests_missing_the_cache_together_read_the_row_once(
        self, auth_app: FastAPI, auth_client, user_tokens
    ):
        pat = await new_pat(auth_client, user_tokens)
        personal = lifespan_state(auth_app)["core"].verifier.personal
        personal.forget()
        reads = 0
        load = personal._load

        async def counted(*args: Any) -> Any:
            nonlocal reads
            reads += 1
            return await load(*args)

        personal._load = counted
        answers = await asyncio.gather(
            *(auth_client.get(VERIFY, headers=pat_headers(pat["token"])) for _ in range(20))
        )
        assert [a.status_code for a in answers] == [200] * 20
        assert reads == 1

    async def test_an_expired_token_is_401(
        self, auth_app: FastAPI, auth_client, user_tokens, db_engine
    ):
        pat = await new_pat(auth_client, user_tokens)
        async with db_engine.begin() as conn:
            await conn.execute(
                text("UPDATE personal_access_token SET expires_at = now() - interval '1 second'")
            )
        lifespan_state(auth_app)["core"].verifier.personal.forget()
        refused = await auth_client.get(VERIFY, headers=pat_headers(pat["token"]))
        assert (refused.status_code, refused.json()["code"]) == (401, "invalid_token")
        assert "expired" in refused.json()["detail"]

    @pytest.mark.parametrize("mangle", ["checksum", "unknown", "short"])
    async def test_a_malformed_or_unknown_token_is_401(
        self, auth_client, user_tokens, db_engine, mangle
    ):
        from tessera_core.tokens.pat import new_personal_token

        token = (await new_pat(auth_client, user_tokens))["token"]
        bad = {
            "checksum": token[:-1] + ("A" if token[-1] != "A" else "B"),
            "unknown": new_personal_token(),
            "short": token[:-2],
        }[mangle]
        refused = await auth_client.get(VERIFY, headers=pat_headers(bad))
        assert (refused.status_code, refused.json()["code"]) == (401, "invalid_token")

    async def test_fails_closed_without_redis(self, make_settings):
        from tessera_auth.app import create_app

        redis = LocalRedis().start()
        try:
            app = create_app(make_settings(redis_url=redis.url()))
            async with running(app) as client:
                pair = await register_and_login(client, "rhea")
                pat = await new_pat(client, pair)
                assert (
                    await client.get(VERIFY, headers=pat_headers(pat["token"]))
                ).status_code == 200
                redis.stop()
                down = await client.get(VERIFY, headers=pat_headers(pat["token"]))
                assert (down.status_code, down.json()["code"]) == (503, "revocation_unavailable")
                redis.start()
                back = await client.get(VERIFY, headers=pat_headers(pat["token"]))
                assert back.status_code == 200
        finally:
            redis.stop()


class TestRevoke:
    async def test_by_its_owner_refused_at_once_in_both_services(
        self, auth_client, users_client, user, user_tokens, db_engine
    ):
        pat = await new_pat(auth_client, user_tokens)
        kept = await new_pat(auth_client, user_tokens, name="kept")
        assert (await users_client.get(ME, headers=pat_headers(pat["token"]))).status_code == 200
        response = await auth_client.delete(f"{TOKENS}/{pat['id']}", headers=bearer(user_tokens))
        assert response.status_code == 204
        for client, path in ((auth_client, VERIFY), (users_client, ME)):
            refused = await client.get(path, headers=pat_headers(pat["token"]))
            assert (refused.status_code, refused.json()["code"]) == (401, "token_revoked")
        assert (
            await auth_client.get(VERIFY, headers=pat_headers(kept["token"]))
        ).status_code == 200
        listed = await auth_client.get(TOKENS, headers=bearer(user_tokens))
        assert [t["name"] for t in listed.json()] == ["kept"]
        assert (await mail_kinds(db_engine, user["email"]))[-1] == "personal_token_revoked"
        again = await auth_client.delete(f"{TOKENS}/{pat['id']}", headers=bearer(user_tokens))
        assert (again.status_code, again.json()["code"]) == (404, "token_not_found")

    async def test_another_users_token_is_404(self, auth_client, user_tokens, admin_tokens):
        theirs = await new_pat(auth_client, admin_tokens)
        refused = await auth_client.delete(f"{TOKENS}/{theirs['id']}", headers=bearer(user_tokens))
        assert (refused.status_code, refused.json()["code"]) == (404, "token_not_found")
        assert (
            await auth_client.get(VERIFY, headers=pat_headers(theirs["token"]))
        ).status_code == 200

    async def test_by_an_admin(self, auth_client, user, user_tokens, admin_tokens, db_engine):
        pat = await new_pat(auth_client, user_tokens)
        path = f"/api/v1/auth/admin/users/{user['id']}/tokens"
        listed = await auth_client.get(path, headers=bearer(admin_tokens))
        assert [t["id"] for t in listed.json()] == [pat["id"]]
        not_admin = await auth_client.delete(f"{path}/{pat['id']}", headers=bearer(user_tokens))
        assert (not_admin.status_code, not_admin.json()["code"]) == (403, "forbidden")
        with capture_logs() as logs:
            response = await auth_client.delete(f"{path}/{pat['id']}", headers=bearer(admin_tokens))
        assert response.status_code == 204
        (event,) = [e for e in logs if e["event"] == "admin_personal_token_revoked"]
        admin_id = unverified(admin_tokens["access_token"])[1]["sub"]
        assert (event["actor_id"], event["user_id"], event["pat_id"]) == (
            admin_id,
            user["id"],
            pat["id"],
        )
        refused = await auth_client.get(VERIFY, headers=pat_headers(pat["token"]))
        assert (refused.status_code, refused.json()["code"]) == (401, "token_revoked")
        assert (await mail_kinds(db_engine, user["email"]))[-1] == "personal_token_revoked"
        assert (await auth_client.get(path, headers=bearer(admin_tokens))).json() == []
        nobody = await auth_client.get(
            "/api/v1/auth/admin/users/00000000-0000-0000-0000-000000000000/tokens",
            headers=bearer(admin_tokens),
        )
        assert (nobody.status_code, nobody.json()["code"]) == (404, "user_not_found")

    async def test_by_whoever_presents_it_at_rfc_7009_revoke(
        self, auth_client, user, user_tokens, db_engine
    ):
        from tessera_core.tokens.pat import new_personal_token

        pat = await new_pat(auth_client, user_tokens)
        kinds_before = await mail_kinds(db_engine, user["email"])
        response = await auth_client.post("/api/v1/auth/revoke", data={"token": pat["token"]})
        assert response.status_code == 200
        refused = await auth_client.get(VERIFY, headers=pat_headers(pat["token"]))
        assert (refused.status_code, refused.json()["code"]) == (401, "token_revoked")
        assert await mail_kinds(db_engine, user["email"]) == [
            *kinds_before,
            "personal_token_revoked",
        ]
        # Again, or a token this server never issued: 200 and nothing mailed (RFC 7009 §2.2).
        for token in (pat["token"], new_personal_token()):
            again = await auth_client.post("/api/v1/auth/revoke", data={"token": token})
            assert again.status_code == 200
        assert len(await mail_kinds(db_engine, user["email"])) == len(kinds_before) + 1

    async def test_when_the_user_is_deactivated(
        self, auth_client, users_client, user, user_tokens, admin_headers
    ):
        pat = await new_pat(auth_client, user_tokens)
        deleted = await users_client.delete(f"/api/v1/users/{user['id']}", headers=admin_headers)
        assert deleted.status_code == 204
        for client, path in ((auth_client, VERIFY), (users_client, ME)):
            refused = await client.get(path, headers=pat_headers(pat["token"]))
            assert (refused.status_code, refused.json()["code"]) == (401, "token_revoked")

    async def test_when_the_password_is_reset(self, auth_client, user, user_tokens, db_engine):
        pat = await new_pat(auth_client, user_tokens)
        forgot = await auth_client.post(
            "/api/v1/auth/password/forgot", json={"email": user["email"]}
        )
        assert forgot.status_code == 202
        async with db_engine.connect() as conn:
            body = (
                await conn.execute(
                    text("SELECT body_text FROM mail_outbox WHERE kind = 'password_reset'")
                )
            ).scalar_one()
        match = re.search(r"token=([\w-]+)", body)
        assert match is not None
        reset = await auth_client.post(
            "/api/v1/auth/password/reset",
            json={"token": match[1], "new_password": "velvet-harbour-2031"},
        )
        assert reset.status_code == 204, reset.text
        refused = await auth_client.get(VERIFY, headers=pat_headers(pat["token"]))
        assert (refused.status_code, refused.json()["code"]) == (401, "token_revoked")
        assert (await auth_client.get(TOKENS, headers=bearer(user_tokens))).status_code == 401


class TestExchange:
    async def test_a_short_access_token_of_the_same_session(
        self, auth_client, users_client, user, user_tokens
    ):
        pat = await new_pat(auth_client, user_tokens, scope="profile:read profile:write")
        response = await exchange(auth_client, pat["token"])
        assert response.status_code == 200, response.text
        body = response.json()
        assert response.headers["cache-control"] == "no-store"
        assert set(body) == {
            "access_token",
            "issued_token_type",
            "token_type",
            "expires_in",
            "scope",
        }
        assert (body["issued_token_type"], body["token_type"], body["scope"]) == (
            ACCESS_TOKEN_TYPE,
            "Bearer",
            "profile:read profile:write",
        )
        assert 0 < body["expires_in"] <= 900
        header, claims = unverified(body["access_token"])
        assert header["typ"] == "at+jwt"
        pat_sid = (await auth_client.get(VERIFY, headers=pat_headers(pat["token"]))).headers[
            "x-auth-session-id"
        ]
        assert (claims["sub"], claims["sid"], claims["amr"]) == (user["id"], pat_sid, ["pat"])
        assert "auth_time" not in claims
        me = await users_client.get(ME, headers=bearer(body))
        assert (me.status_code, me.json()["id"]) == (200, user["id"])
        # It proves no login: step-up refuses it as it refuses the personal token.
        refused = await create(auth_client, body)
        assert refused.json()["code"] == "insufficient_user_authentication"

    async def test_narrows_and_never_widens(self, auth_client, user_tokens):
        pat = await new_pat(auth_client, user_tokens, scope="profile:read sessions:write")
        narrowed = await exchange(auth_client, pat["token"], scope="profile:read")
        assert narrowed.json()["scope"] == "profile:read"
        assert unverified(narrowed.json()["access_token"])[1]["scope"] == "profile:read"
        wider = await exchange(auth_client, pat["token"], scope="profile:write")
        assert (wider.status_code, wider.json()["error"]) == (400, "invalid_scope")

    async def test_the_exchanged_token_dies_with_the_personal_token(
        self, auth_client, users_client, user_tokens
    ):
        pat = await new_pat(auth_client, user_tokens)
        exchanged = (await exchange(auth_client, pat["token"])).json()
        assert (await users_client.get(ME, headers=bearer(exchanged))).status_code == 200
        revoked = await auth_client.delete(f"{TOKENS}/{pat['id']}", headers=bearer(user_tokens))
        assert revoked.status_code == 204
        refused = await users_client.get(ME, headers=bearer(exchanged))
        assert (refused.status_code, refused.json()["code"]) == (401, "token_revoked")
        again = await exchange(auth_client, pat["token"])
        assert (again.status_code, again.json()["error"]) == (400, "invalid_request")

    @pytest.mark.parametrize("subject", ["jwt", "garbage"])
    async def test_only_a_live_personal_token_is_exchanged(self, auth_client, user_tokens, subject):
        token = user_tokens["access_token"] if subject == "jwt" else "tsr_pat_" + "x" * 36
        refused = await exchange(auth_client, token)
        assert (refused.status_code, refused.json()["error"]) == (400, "invalid_request")

    async def test_a_wrong_subject_token_type_is_invalid_request(self, auth_client, user_tokens):
        pat = await new_pat(auth_client, user_tokens)
        refused = await auth_client.post(
            TOKEN,
            data={
                "grant_type": EXCHANGE,
                "subject_token": pat["token"],
                "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            },
        )
        assert (refused.status_code, refused.json()["error"]) == (400, "invalid_request")

    async def test_the_metadata_lists_the_grant(self, auth_client):
        metadata = await auth_client.get("/.well-known/oauth-authorization-server")
        assert EXCHANGE in metadata.json()["grant_types_supported"]
