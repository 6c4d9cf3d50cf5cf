from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tessera_core.settings import SettingsError
from tests.fixtures.apps import lifespan_state, running
from tests.fixtures.users import SwitchableTransport


class TestCreateApp:
    def test_refuses_to_start_without_a_jwks_source(self, make_users_settings):
        from tessera_users.app import create_app

        with pytest.raises(SettingsError, match="TESSERA_JWKS_URL"):
            create_app(make_users_settings(jwks_url=None, jwks_file=None))

    def test_refuses_the_default_cursor_secret_outside_dev(self, make_users_settings):
        from tessera_core.settings import DEFAULT_DEV_CURSOR_SECRET
        from tessera_users.app import create_app

        with pytest.raises(SettingsError, match="TESSERA_CURSOR_SECRET"):
            create_app(make_users_settings(cursor_secret=DEFAULT_DEV_CURSOR_SECRET))

    def test_refuses_a_short_cursor_secret_outside_dev(self, make_users_settings):
        from tessera_users.app import create_app

        with pytest.raises(SettingsError, match="TESSERA_CURSOR_SECRET"):
            create_app(make_users_settings(cursor_secret="short"))

    def test_accepts_the_default_cursor_secret_in_dev(self, make_users_settings):
        from tessera_core.settings import DEFAULT_DEV_CURSOR_SECRET
        from tessera_users.app import create_app

        create_app(make_users_settings(env="dev", cursor_secret=DEFAULT_DEV_CURSOR_SECRET))

    async def test_verifies_with_a_mounted_jwks_file(
        self, make_users_settings, auth_app, auth_headers, tmp_path: Path
    ):
        from tessera_users.app import create_app

        jwks = tmp_path / "jwks.json"
        jwks.write_text(json.dumps(lifespan_state(auth_app)["auth"].keys.jwks()))
        app = create_app(make_users_settings(jwks_url=None, jwks_file=jwks))
        async with running(app) as client:
            assert (await client.get("/readyz")).status_code == 200
            assert (await client.get("/api/v1/users/me", headers=auth_headers)).status_code == 200


class TestProbes:
    async def test_ready_once_it_holds_keys(self, users_client: httpx.AsyncClient):
        response = await users_client.get("/readyz")
        assert response.status_code == 200
        assert response.json()["checks"] == {"database": "ok", "redis": "ok", "jwks": "ok"}

    async def test_not_ready_until_the_jwks_arrives(
        self, make_users_app, jwks_transport: SwitchableTransport, auth_client
    ):
        jwks_transport.down = True
        async with running(make_users_app()) as client:
            response = await client.get("/readyz")
            assert response.status_code == 503
            assert response.json()["checks"]["jwks"] == "failing"
            jwks_transport.down = False
            assert (await client.get("/readyz")).status_code == 200

    async def test_healthz(self, users_client: httpx.AsyncClient):
        response = await users_client.get("/healthz")
        assert response.json() == {"status": "ok"}


class TestDocs:
    async def test_docs_live_under_the_service_prefix(self, users_client: httpx.AsyncClient):
        assert (await users_client.get("/api/v1/users/docs")).status_code == 200
        spec = (await users_client.get("/api/v1/users/openapi.json")).json()
        listing = spec["paths"]["/api/v1/users"]["get"]
        assert {"401", "403", "422"} <= set(listing["responses"])
        patch = spec["paths"]["/api/v1/users/{user_id}"]["patch"]
        assert "`forbidden_field`" in patch["responses"]["403"]["description"]
        assert "`email_taken`" in patch["responses"]["409"]["description"]
