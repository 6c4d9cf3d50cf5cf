"""Crafted Bearer tokens are a 401 on every protected route of both services, and an
unexpected error in any endpoint is one problem+json 500, counted under its route."""

from __future__ import annotations

import base64
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import structlog.testing
from fastapi import APIRouter, FastAPI
from joserfc import jws
from joserfc.jwk import RSAKey
from prometheus_client import REGISTRY

from tessera_core.settings import Settings
from tessera_core.web.routing import LeanRoute
from tessera_core.web.runtime import create_service_app
from tests.fixtures.apps import running
from tests.fixtures.jwt import segment, unverified

DEEP = 5000
# A header of `[` nested 5,000 deep: the JSON parser runs out of recursion on it.
NESTED_HEADER = base64.urlsafe_b64encode(b"[" * DEEP).rstrip(b"=").decode()


def crafted_tokens(user_tokens: dict[str, Any]) -> dict[str, str]:
    _, claims = unverified(user_tokens["access_token"])
    body = segment(claims)
    return {
        "nested_header": f"{NESTED_HEADER}.{body}.c2ln",
        "nested_payload": f"{segment({'alg': 'RS256', 'kid': 'test-rs256', 'typ': 'at+jwt'})}."
        f"{base64.urlsafe_b64encode(b'[' * DEEP).rstrip(b'=').decode()}.c2ln",
        "huge_header": f"{segment({'alg': 'RS256', 'kid': 'k' * 100_000})}.{body}.c2ln",
    }


def signed_nested_payload(keys_dir) -> str:
    """A token whose signature is valid but whose payload is `[` nested 5,000 deep: only
    the signing key could make one, and it is still a 401."""
    key = RSAKey.import_key((keys_dir / "test-rs256.pem").read_bytes())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return jws.serialize_compact(
            {"alg": "RS256", "kid": "test-rs256", "typ": "at+jwt"}, b"[" * DEEP, key
        )


def requests_count(service: str, method: str, route: str, status: int) -> float:
    labels = {"service": service, "method": method, "route": route, "status": str(status)}
    return REGISTRY.get_sample_value("http_requests_total", labels) or 0.0


async def assert_invalid_token(client: httpx.AsyncClient, method: str, path: str, token: str):
    response = await client.request(method, path, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401, response.text[:300]
    assert response.json()["code"] == "invalid_token"


AUTH_ROUTES = [
    ("GET", "/api/v1/auth/verify"),
    ("GET", "/api/v1/auth/sessions"),
    ("POST", "/api/v1/auth/logout-all"),
]
USERS_ROUTES = [
    ("GET", "/api/v1/users/me"),
    ("GET", "/api/v1/users"),
    ("GET", "/api/v1/users/3cce1156-cc26-45dc-a4a5-73c0e0478dfa"),
]


class TestCraftedBearer:
    @pytest.mark.parametrize("kind", ["nested_header", "nested_payload", "huge_header"])
    @pytest.mark.parametrize(("method", "path"), AUTH_ROUTES)
    async def test_auth_routes_answer_401(self, auth_client, user_tokens, kind, method, path):
        await assert_invalid_token(auth_client, method, path, crafted_tokens(user_tokens)[kind])

    @pytest.mark.parametrize("kind", ["nested_header", "nested_payload", "huge_header"])
    @pytest.mark.parametrize(("method", "path"), USERS_ROUTES)
    async def test_users_routes_answer_401(self, users_client, user_tokens, kind, method, path):
        await assert_invalid_token(users_client, method, path, crafted_tokens(user_tokens)[kind])

    async def test_a_validly_signed_nested_payload_is_401(self, auth_client, keys_dir):
        await assert_invalid_token(
            auth_client, "GET", "/api/v1/auth/verify", signed_nested_payload(keys_dir)
        )

    async def test_counted_as_401_under_the_route(self, auth_client, user_tokens):
        before = requests_count("auth", "GET", "/api/v1/auth/verify", 401)
        token = crafted_tokens(user_tokens)["nested_header"]
        await assert_invalid_token(auth_client, "GET", "/api/v1/auth/verify", token)
        assert requests_count("auth", "GET", "/api/v1/auth/verify", 401) == before + 1


def crashing_app(settings: Settings) -> FastAPI:
    """A service app whose routes fail in a way no handler knows: an ``APIRoute`` and a
    ``LeanRoute``."""
    router = APIRouter()
    lean_router = APIRouter(route_class=LeanRoute)

    @router.get("/crash/{item}")
    async def crash(item: str) -> dict[str, str]:
        raise RuntimeError(f"internal detail {item}")

    @lean_router.get("/lean")
    async def lean() -> dict[str, str]:
        raise RuntimeError("internal detail of a lean route")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        yield {}

    return create_service_app(
        settings,
        service="crashing",
        title="crashing",
        docs_prefix="/crashing",
        lifespan=lifespan,
        readiness=lambda request: {},
        routers=(router, lean_router),
    )


class TestUnexpectedErrors:
    @pytest.mark.parametrize(("path", "route"), [("/crash/7", "/crash/{item}"), ("/lean", "/lean")])
    async def test_a_problem_500_counted_under_its_route_and_logged_once(
        self, settings, path, route
    ):
        app = crashing_app(settings)
        before = requests_count("crashing", "GET", route, 500)
        async with running(app) as client:
            # The in-process client raises whatever escapes the app: under uvicorn that is
            # a second traceback in the log.
            with structlog.testing.capture_logs() as logged:
                response = await client.get(path)
        assert response.status_code == 500
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "internal_error"
        assert "internal detail" not in response.text
        assert requests_count("crashing", "GET", route, 500) == before + 1
        assert requests_count("crashing", "GET", "unmatched", 500) == 0
        errors = [e for e in logged if e["log_level"] == "error"]
        assert [e["event"] for e in errors] == ["unhandled_error"]
        assert isinstance(errors[0]["exc_info"], RuntimeError)
