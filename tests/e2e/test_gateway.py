"""Through the nginx gateway: the account lifecycle across both services, and routing."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.e2e.stack import Stack
from tests.fixtures.apps import bearer

pytestmark = pytest.mark.e2e
PASSWORD = "quartz-lantern-1987"


def register_and_login(client: httpx.Client, password: str = PASSWORD) -> tuple[dict, dict]:
    username = f"e2e{uuid.uuid4().hex[:10]}"
    response = client.post(
        "/api/v1/auth/register",
        json={
            "username": username,
            "email": f"{username}@example.com",
            "password": password,
        },
    )
    assert response.status_code == 201, response.text
    login = client.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert login.status_code == 200, login.text
    return response.json(), login.json()


class TestAccountLifecycle:
    def test_register_login_me_refresh_logout(self, stack: Stack, gateway_client: httpx.Client):
        user, tokens = register_and_login(gateway_client)

        me = gateway_client.get("/api/v1/users/me", headers=bearer(tokens))
        assert me.status_code == 200, me.text
        assert me.json()["id"] == user["id"]

        refreshed = gateway_client.post(
            "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        )
        assert refreshed.status_code == 200, refreshed.text
        new = refreshed.json()
        assert new["refresh_token"] != tokens["refresh_token"]
        assert gateway_client.get("/api/v1/users/me", headers=bearer(new)).status_code == 200

        logout = gateway_client.post(
            "/api/v1/auth/logout", json={"refresh_token": new["refresh_token"]}, headers=bearer(new)
        )
        assert logout.status_code == 204, logout.text

        # The very next request to the other service sees the revocation.
        after = gateway_client.get("/api/v1/users/me", headers=bearer(new))
        assert after.status_code == 401
        assert after.headers["www-authenticate"].startswith("Bearer")
        assert gateway_client.get("/api/v1/auth/verify", headers=bearer(new)).status_code == 401
        spent = gateway_client.post(
            "/api/v1/auth/refresh", json={"refresh_token": new["refresh_token"]}
        )
        assert spent.status_code == 401

    def test_well_known_documents_are_routed_to_auth(
        self, stack: Stack, gateway_client: httpx.Client
    ):
        jwks = gateway_client.get("/.well-known/jwks.json")
        assert jwks.status_code == 200
        assert jwks.json()["keys"][0]["use"] == "sig"
        metadata = gateway_client.get("/.well-known/oauth-authorization-server")
        assert metadata.status_code == 200
        assert metadata.json()["issuer"] == stack.gateway.url


class TestRouting:
    @pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics", "/metrics/", "/nope"])
    def test_internal_and_unknown_paths_are_not_served(
        self, gateway_client: httpx.Client, path: str
    ):
        response = gateway_client.get(path)
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")

    def test_landing_page_links_both_api_docs(self, gateway_client: httpx.Client):
        page = gateway_client.get("/")
        assert page.status_code == 200
        assert 'href="/api/v1/auth/docs"' in page.text
        assert 'href="/api/v1/users/docs"' in page.text

    def test_api_docs_are_reachable(self, stack: Stack, gateway_client: httpx.Client):
        for prefix in ("/api/v1/auth", "/api/v1/users"):
            assert gateway_client.get(f"{prefix}/docs").status_code == 200
            assert gateway_client.get(f"{prefix}/openapi.json").status_code == 200

    def test_request_id_is_passed_through_and_echoed(
        self, gateway_client: httpx.Client, stack: Stack
    ):
        request_id = f"e2e-{uuid.uuid4().hex}"
        response = gateway_client.get(
            "/.well-known/jwks.json", headers={"X-Request-ID": request_id}
        )
        assert response.headers["x-request-id"] == request_id
        assert request_id in stack.auth.proc.wait_for_log(request_id)

    def test_request_id_is_generated_when_absent(self, gateway_client: httpx.Client):
        first = gateway_client.get("/.well-known/jwks.json").headers["x-request-id"]
        second = gateway_client.get("/.well-known/jwks.json").headers["x-request-id"]
        assert first
        assert second
        assert first != second

    def test_bodies_over_one_mebibyte_are_refused(self, gateway_client: httpx.Client):
        response = gateway_client.post(
            "/api/v1/auth/login",
            content=b"x" * (1024 * 1024 + 1),
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 413

    def test_bodies_too_big_for_memory_buffers_still_reach_the_service(
        self, gateway_client: httpx.Client
    ):
        """nginx writes such bodies to its temp directory first; it must be able to."""
        response = gateway_client.post(
            "/api/v1/auth/login", json={"username": "x" * 200_000, "password": "y"}
        )
        assert response.status_code == 422
        assert response.json()["code"] == "validation_failed"

    def test_client_address_is_forwarded(self, gateway_client: httpx.Client, stack: Stack):
        _, tokens = register_and_login(gateway_client)
        sessions = gateway_client.get("/api/v1/auth/sessions", headers=bearer(tokens))
        assert sessions.status_code == 200
        assert sessions.json()[0]["ip"] == "127.0.0.1"
