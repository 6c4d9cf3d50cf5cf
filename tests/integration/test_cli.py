"""The `tessera` command against the real database: migrate, keys, create-admin, bootstrap."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import httpx
from sqlalchemy import text

from tests.fixtures.apps import PASSWORD, running

TESSERA = [sys.executable, "-m", "tessera_core.cli"]


def run(
    args: list[str], env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TESSERA, *args],
        env={**os.environ, **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


class TestMigrate:
    def test_is_idempotent(self, database_url: str):
        first = run(["migrate"], {"TESSERA_DATABASE_URL": database_url})
        second = run(["migrate"], {"TESSERA_DATABASE_URL": database_url})
        assert (first.returncode, second.returncode) == (0, 0), first.stderr + second.stderr
        assert "database migrated to head" in second.stdout


class TestKeys:
    def test_generates_a_private_key_file(self, tmp_path: Path):
        result = run(["keys", "--dir", str(tmp_path), "--alg", "EdDSA", "--kid", "k1"], {})
        assert result.returncode == 0, result.stderr
        key = tmp_path / "k1.pem"
        assert key.read_text().startswith("-----BEGIN PRIVATE KEY-----")
        assert key.stat().st_mode & 0o777 == 0o600


class TestCreateAdmin:
    async def test_creates_then_leaves_alone(self, database_url: str, clean_state, db_engine):
        env = {"TESSERA_DATABASE_URL": database_url}
        created = run(
            ["create-admin", "--username", "boss", "--email", "boss@example.com"],
            env,
            stdin=PASSWORD + "\n",
        )
        assert created.returncode == 0, created.stderr
        assert "created admin boss" in created.stdout
        again = run(
            ["create-admin", "--username", "boss", "--email", "boss@example.com"],
            {**env, "TESSERA_ADMIN_PASSWORD": "another-password-77"},
        )
        assert again.returncode == 0
        assert "nothing changed" in again.stdout
        async with db_engine.connect() as conn:
            rows = (await conn.execute(text('SELECT username, is_admin FROM "user"'))).all()
        assert rows == [("boss", True)]

    async def test_password_from_file_and_policy(
        self, database_url: str, clean_state, tmp_path: Path
    ):
        weak = tmp_path / "pw"
        weak.write_text("password\n")
        result = run(
            [
                "create-admin",
                "--username",
                "boss2",
                "--email",
                "b2@example.com",
                "--password-file",
                str(weak),
            ],
            {"TESSERA_DATABASE_URL": database_url},
        )
        assert result.returncode == 2
        assert "too common" in result.stderr
        assert "password\n" not in result.stdout

    async def test_promotes_an_existing_user(self, database_url: str, register_user):
        await register_user("promote-me")
        result = run(
            ["create-admin", "--username", "promote-me", "--email", "promote-me@example.com"],
            {"TESSERA_DATABASE_URL": database_url, "TESSERA_ADMIN_PASSWORD": "irrelevant-here-1"},
        )
        assert result.returncode == 0
        assert "now an admin" in result.stdout


class TestBootstrapAdmin:
    async def test_created_on_startup_idempotently(self, make_settings):
        from tessera_auth.app import create_app

        settings = make_settings(
            bootstrap_admin_username="root",
            bootstrap_admin_password="boot-strap-pass-9",
            bootstrap_admin_email="root@example.com",
        )
        for _ in range(2):
            app = create_app(settings)
            async with running(app) as client:
                # Ready means the admin exists: `make dev` prints its password once ready.
                for _ in range(100):
                    ready = await client.get("/readyz")
                    if ready.status_code == 200:
                        break
                    assert ready.json()["checks"]["bootstrap_admin"] == "failing"
                    await asyncio.sleep(0.05)
                assert ready.json()["checks"]["bootstrap_admin"] == "ok"
                response = await client.post(
                    "/api/v1/auth/login",
                    json={"username": "root", "password": "boot-strap-pass-9"},
                )
                assert response.status_code == 200, response.text
                claims_roles = (
                    await client.get(
                        "/api/v1/auth/verify",
                        headers={"Authorization": f"Bearer {response.json()['access_token']}"},
                    )
                ).headers["x-auth-roles"]
                assert claims_roles == "admin"
                assert isinstance(client, httpx.AsyncClient)


class TestEngine:
    async def test_sql_parameters_stay_out_of_errors(self, make_settings):
        from sqlalchemy.exc import DBAPIError

        from tessera_core.db.engine import Database

        database = Database(make_settings())
        try:
            async with database.engine.connect() as conn:
                try:
                    await conn.execute(
                        text("SELECT CAST(:email AS text), 1 / 0"), {"email": "alice@example.com"}
                    )
                except DBAPIError as exc:
                    error = str(exc)
                else:
                    raise AssertionError("the division should have failed")
        finally:
            await database.close()
        assert "division by zero" in error
        assert "alice@example.com" not in error
        assert "[SQL parameters hidden due to hide_parameters=True]" in error
