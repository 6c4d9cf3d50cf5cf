"""A refresh is one transaction: concurrent uses of one token rotate it once, and a refresh
whose commit fails hands out nothing and spends nothing."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

REFRESH = "/api/v1/auth/refresh"

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
