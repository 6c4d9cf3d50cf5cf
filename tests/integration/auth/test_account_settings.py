"""Settings that change what registration accepts and who may call: the common-password list, CORS."""

from __future__ import annotations

from tests.fixtures.apps import registration, running

REGISTER = "/api/v1/auth/register"


class TestSettingsThatShapeAccounts:
    async def test_custom_common_password_list(self, make_settings, tmp_path):
        from tessera_auth.app import create_app

        custom = tmp_path / "common.txt"
        custom.write_text("Tessera-Launch-2026\n")
        app = create_app(make_settings(common_passwords_file=custom))
        async with running(app) as client:
            rejected = await client.post(
                REGISTER, json=registration("kate", password="tessera-launch-2026")
            )
            assert rejected.status_code == 422
            assert "too common" in rejected.json()["errors"][0]["message"]
            # The shipped list is replaced, not extended.
            assert (
                await client.post(REGISTER, json=registration("kate", password="iloveyou123"))
            ).status_code == 201

    async def test_cors_for_configured_origins_only(self, make_settings):
        from tessera_auth.app import create_app

        app = create_app(make_settings(cors_origins=["https://app.example"]))
        async with running(app) as client:
            preflight = {
                "access-control-request-method": "POST",
                "access-control-request-headers": "authorization",
            }
            allowed = await client.options(
                REGISTER, headers={"origin": "https://app.example", **preflight}
            )
            assert allowed.headers["access-control-allow-origin"] == "https://app.example"
            other = await client.options(
                REGISTER, headers={"origin": "https://evil.example", **preflight}
            )
            assert "access-control-allow-origin" not in other.headers
