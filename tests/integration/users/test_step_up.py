"""Step-up at the users service: an email change, and an admin's change of someone's roles
or activity, need a recent login; other changes do not."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.fixtures.apps import PASSWORD, aged, bearer


def refused_for_step_up(response: httpx.Response) -> bool:
    return (
        response.status_code == 401
        and response.json()["code"] == "insufficient_user_authentication"
        and 'max_age="600"' in response.headers["www-authenticate"]
    )


class TestUsersStepUp:
    async def test_an_old_login_may_change_a_nickname_but_not_the_email(
        self,
        users_client: httpx.AsyncClient,
        auth_client: httpx.AsyncClient,
        db_engine: AsyncEngine,
        user_tokens: dict[str, Any],
    ):
        old = await aged(auth_client, db_engine, user_tokens, 601)
        nickname = await users_client.patch(
            "/api/v1/users/me", json={"nickname": "Ally"}, headers=bearer(old)
        )
        assert nickname.status_code == 200, nickname.text
        email = await users_client.patch(
            "/api/v1/users/me",
            json={"email": "moved@example.com", "current_password": PASSWORD},
            headers=bearer(old),
        )
        assert refused_for_step_up(email), email.text

    async def test_an_admin_with_an_old_login_may_not_promote_or_deactivate(
        self,
        users_client: httpx.AsyncClient,
        auth_client: httpx.AsyncClient,
        db_engine: AsyncEngine,
        admin_tokens: dict[str, Any],
        user: dict[str, Any],
    ):
        old = await aged(auth_client, db_engine, admin_tokens, 601)
        target = f"/api/v1/users/{user['id']}"
        promote = await users_client.patch(target, json={"is_admin": True}, headers=bearer(old))
        assert refused_for_step_up(promote), promote.text
        deactivate = await users_client.delete(target, headers=bearer(old))
        assert refused_for_step_up(deactivate), deactivate.text
        rename = await users_client.patch(target, json={"nickname": "B"}, headers=bearer(old))
        assert rename.status_code == 200, rename.text
        # Unchanged flags are no change: sending them along needs no step-up.
        same = await users_client.patch(target, json={"is_admin": False}, headers=bearer(old))
        assert same.status_code == 200, same.text
