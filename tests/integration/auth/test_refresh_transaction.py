"""A refresh is one write, made only on the token as it was read: concurrent uses of one
token rotate it once (or each, inside the reuse grace), a refresh racing a logout hands out
nothing that works, and a refresh whose write fails hands out nothing and spends nothing."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.fixtures.apps import bearer, register_and_login, running

REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
VERIFY = "/api/v1/auth/verify"

# A trigger checked at COMMIT (deferred), so the rotation's statements succeed and the
# commit itself fails, as it would on a serialisation failure or a lost connection.
FAIL_AT_COMMIT = """
CREATE FUNCTION tessera_test_refuse() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN RAISE EXCEPTION 'refused at commit' USING ERRCODE = '40001'; END $$;
CREATE CONSTRAINT TRIGGER tessera_test_refuse AFTER INSERT ON refresh_token
DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION tessera_test_refuse();
"""
ALLOW_COMMIT = """
DROP TRIGGER tessera_test_refuse ON refresh_token;
DROP FUNCTION tessera_test_refuse();
"""


async def _run(engine: AsyncEngine, script: str) -> None:
    async with engine.begin() as conn:
        for statement in script.split(";\n"):
            if statement.strip():
                await conn.execute(text(statement))


class TestConcurrentRefresh:
    async def test_one_token_rotates_once_and_its_reuse_ends_the_session(
        self, auth_client: httpx.AsyncClient, user_tokens
    ):
        presented = {"refresh_token": user_tokens["refresh_token"]}
        responses = await asyncio.gather(
            *(auth_client.post(REFRESH, json=presented) for _ in range(10))
        )
        outcomes = Counter(
            r.status_code if r.status_code == 200 else r.json()["code"] for r in responses
        )
        assert outcomes == {200: 1, "refresh_token_reused": 9}
        winner = next(r for r in responses if r.status_code == 200).json()
        again = await auth_client.post(REFRESH, json={"refresh_token": winner["refresh_token"]})
        assert again.status_code == 401
        assert again.json()["code"] == "invalid_refresh_token"

    async def test_inside_the_reuse_grace_every_concurrent_use_gets_its_own_pair(
        self, make_settings
    ):
        from tessera_auth.app import create_app

        async with running(create_app(make_settings(refresh_reuse_grace_seconds=30))) as client:
            pair = await register_and_login(client, "graceful")
            presented = {"refresh_token": pair["refresh_token"]}
            responses = await asyncio.gather(
                *(client.post(REFRESH, json=presented) for _ in range(8))
            )
            assert [r.status_code for r in responses] == [200] * 8
            successors = {r.json()["refresh_token"] for r in responses}
            assert len(successors) == 8
            for successor in successors:
                again = await client.post(REFRESH, json={"refresh_token": successor})
                assert again.status_code == 200, again.text

    @pytest.mark.parametrize("round_", range(5))
    async def test_a_refresh_racing_a_logout_hands_out_nothing_that_works(
        self, auth_client: httpx.AsyncClient, register_user, round_: int
    ):
        """Whichever commits first, once both have answered the session is over: a pair the
        refresh did hand out is refused, its access token and its refresh token."""
        pair = await register_and_login(auth_client, f"racer{round_}")
        presented = {"refresh_token": pair["refresh_token"]}
        refreshed, logged_out = await asyncio.gather(
            auth_client.post(REFRESH, json=presented),
            auth_client.post(LOGOUT, json=presented, headers=bearer(pair)),
        )
        assert logged_out.status_code == 204, logged_out.text
        assert refreshed.status_code in {200, 401}, refreshed.text
        if refreshed.status_code == 200:
            handed_out = refreshed.json()
            assert (await auth_client.get(VERIFY, headers=bearer(handed_out))).status_code == 401
            again = await auth_client.post(
                REFRESH, json={"refresh_token": handed_out["refresh_token"]}
            )
            assert again.status_code == 401


class TestFailedCommit:
    async def test_answers_503_and_the_presented_token_still_rotates(
        self, auth_client: httpx.AsyncClient, user_tokens, db_engine: AsyncEngine
    ):
        presented = {"refresh_token": user_tokens["refresh_token"]}
        await _run(db_engine, FAIL_AT_COMMIT)
        try:
            failed = await auth_client.post(REFRESH, json=presented)
        finally:
            await _run(db_engine, ALLOW_COMMIT)
        assert failed.status_code == 503, failed.text
        assert "access_token" not in failed.text
        retried = await auth_client.post(REFRESH, json=presented)
        assert retried.status_code == 200, retried.text
