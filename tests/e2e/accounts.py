"""Accounts for the e2e tests, made through the API like a client would."""

from __future__ import annotations

import uuid

import httpx

from tests.fixtures.apps import bearer

PASSWORD = "quartz-lantern-1987"


def register(client: httpx.Client, prefix: str = "e2e") -> str:
    username = f"{prefix}{uuid.uuid4().hex[:10]}"
    response = client.post(
        "/api/v1/auth/register",
        json={"username": username, "email": f"{username}@example.com", "password": PASSWORD},
    )
    assert response.status_code == 201, response.text
    return username


def log_in(client: httpx.Client, username: str) -> dict:
    response = client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    tokens: dict = response.json()
    return tokens


def signed_in(client: httpx.Client) -> dict:
    return log_in(client, register(client))


def logged_out(client: httpx.Client) -> dict:
    """A token pair whose session has just been logged out (its access token revoked too)."""
    tokens = signed_in(client)
    response = client.post(
        "/api/v1/auth/logout",
        headers=bearer(tokens),
        json={"refresh_token": tokens["refresh_token"]},
    )
    assert response.status_code == 204
    return tokens
