"""Scope enforcement on every row, generated from both services' OpenAPI documents: every
operation that takes a Bearer token declares exactly one scope of the vocabulary (so a new
endpoint without one fails here), and a token holding every scope but that one is refused
with 403 ``insufficient_scope``."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from fastapi import FastAPI

from tessera_core.tokens.scopes import SCOPES, format_scope
from tests.fixtures.jwt import claims_for, sign, signing_key

# Bearer operations that declare no scope, each for a reason.
UNSCOPED = {
    # Forward-auth: any valid token passes; the gateway asks for a scope with ?scope=.
    ("get", "/api/v1/auth/verify"),
    # The refresh token decides; a Bearer that comes along is only revoked with it.
    ("post", "/api/v1/auth/logout"),
}
SCHEME = "OAuth2PasswordBearer"


def bearer_operations(app: FastAPI) -> list[tuple[str, str, list[str]]]:
    """(method, path, declared scopes) of every operation whose security names the scheme."""
    rows = []
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            for requirement in operation.get("security", []):
                if SCHEME in requirement:
                    rows.append((method, path, requirement[SCHEME]))
    return rows


def concrete(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids.get(m.group(1), str(uuid.uuid4())), path)


@pytest.fixture
def operations(
    auth_app: FastAPI, users_app: FastAPI
) -> dict[str, list[tuple[str, str, list[str]]]]:
    return {"auth": bearer_operations(auth_app), "users": bearer_operations(users_app)}


class TestEveryBearerRowDeclaresAScope:
    def test_the_documents_have_bearer_rows(self, operations):
        # Guards the table itself: a change that hid the security requirements would
        # otherwise pass every check below with nothing to check.
        assert len(operations["auth"]) >= 20
        assert len(operations["users"]) >= 6

    def test_exactly_one_known_scope_each(self, operations):
        wrong = [
            (method, path, scopes)
            for rows in operations.values()
            for method, path, scopes in rows
            if (method, path) not in UNSCOPED and (len(scopes) != 1 or scopes[0] not in SCOPES)
        ]
        assert wrong == []

    def test_the_unscoped_rows_still_exist_and_declare_none(self, operations):
        declared = {(m, p): s for rows in operations.values() for m, p, s in rows}
        assert {row: declared.get(row) for row in UNSCOPED} == {row: [] for row in UNSCOPED}

    def test_the_scheme_offers_the_vocabulary(self, auth_app: FastAPI, users_app: FastAPI):
        for app in (auth_app, users_app):
            scheme = app.openapi()["components"]["securitySchemes"][SCHEME]
            assert scheme["flows"]["password"]["scopes"] == SCOPES


class TestATokenWithoutTheScopeIsRefused:
    async def test_every_row(
        self, operations, auth_client, users_client, admin, admin_tokens, user, keys_dir
    ):
        key = signing_key(keys_dir)
        clients = {"auth": auth_client, "users": users_client}
        # Another account's id, so the admin rows reach their scope check the same way.
        ids = {"user_id": user["id"]}
        refused: list[Any] = []
        checked = 0
        for service, rows in operations.items():
            for method, path, scopes in rows:
                if (method, path) in UNSCOPED:
                    continue
                (needed,) = scopes
                others = format_scope(set(SCOPES) - {needed})
                token = sign(claims_for(admin_tokens, scope=others), key)
                response = await clients[service].request(
                    method.upper(),
                    concrete(path, ids),
                    headers={"Authorization": f"Bearer {token}"},
                )
                checked += 1
                challenge = f'Bearer error="insufficient_scope", scope="{needed}"'
                if (
                    response.status_code != 403
                    or response.json().get("code") != "insufficient_scope"
                    or response.headers.get("www-authenticate") != challenge
                ):
                    refused.append((method, path, response.status_code, response.text[:200]))
        assert refused == []
        assert checked == sum(len(rows) for rows in operations.values()) - len(UNSCOPED)
