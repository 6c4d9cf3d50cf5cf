from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from tessera_core.db.engine import sqlalchemy_url
from tessera_core.settings import Settings, SettingsError


class TestSettingsSources:
    def test_environment(self, monkeypatch: pytest.MonkeyPatch):
        monkeypatch.setenv("TESSERA_ACCESS_TOKEN_TTL_SECONDS", "600")
        assert Settings().access_token_ttl_seconds == 600

    def test_file_variant_for_secrets(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
        secret = tmp_path / "db-url"
        secret.write_text("postgresql://u:s3cret@db/tessera\n")
        monkeypatch.setenv("TESSERA_DATABASE_URL_FILE", str(secret))
        assert Settings().database_url.get_secret_value() == "postgresql://u:s3cret@db/tessera"

    def test_unreadable_file_says_which(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
        monkeypatch.setenv("TESSERA_REDIS_URL_FILE", str(tmp_path / "missing"))
        with pytest.raises(SettingsError, match="TESSERA_REDIS_URL_FILE"):
            Settings()

    def test_secrets_are_not_printed(self):
        settings = Settings(database_url="postgresql://u:s3cret@db/x")
        assert "s3cret" not in repr(settings)

    def test_refresh_cannot_outlive_the_session(self):
        with pytest.raises(ValueError, match="REFRESH_TOKEN_TTL"):
            Settings(refresh_token_ttl_seconds=100_000, session_max_age_seconds=1000)


class TestProductionSafety:
    def test_refuses_dev_defaults_outside_dev(self):
        with pytest.raises(SettingsError) as error:
            Settings(env="production").require_production_safe(needs_signing_keys=True)
        message = str(error.value)
        for variable in (
            "TESSERA_DATABASE_URL",
            "TESSERA_REDIS_URL",
            "TESSERA_KEYS_DIR",
            "TESSERA_ISSUER",
            "TESSERA_AUDIENCE",
            "TESSERA_ENV=dev",
        ):
            assert variable in message

    @pytest.mark.parametrize("missing", ["issuer", "audience"])
    def test_refuses_the_default_issuer_and_audience(self, missing: str, tmp_path: Path):
        values: dict[str, Any] = {"issuer": "https://id.example.com", "audience": "tasks-api"}
        del values[missing]
        settings = Settings(
            env="production",
            database_url="postgresql://db/x",
            redis_url="rediss://:pw@cache:6380/0",
            keys_dir=tmp_path,
            **values,
        )
        with pytest.raises(SettingsError, match=f"TESSERA_{missing.upper()} is not set"):
            settings.require_production_safe(needs_signing_keys=True)

    @pytest.mark.parametrize(
        "url", ["redis://fakeredis:6379/0", "redis://localhost:1/0?embedded=1"]
    )
    def test_refuses_dev_backends(self, url: str):
        settings = Settings(env="production", database_url="postgresql://db/x", redis_url=url)
        with pytest.raises(SettingsError, match="development-only backend"):
            settings.require_production_safe()

    def test_accepts_real_backends(self, tmp_path: Path):
        Settings(
            env="production",
            database_url="postgresql://db/x",
            redis_url="rediss://:pw@cache:6380/0",
            keys_dir=tmp_path,
            issuer="https://id.example.com",
            audience="tasks-api",
        ).require_production_safe(needs_signing_keys=True)

    def test_dev_allows_everything(self):
        Settings(env="dev").require_production_safe(needs_signing_keys=True)


def production(**values: Any) -> Settings:
    """Settings that pass every production check except the ones ``values`` break."""
    return Settings(
        env="production",
        database_url="postgresql://db/x",
        redis_url="rediss://:pw@cache:6380/0",
        issuer="https://id.example.com",
        audience="tasks-api",
        **values,
    )


class TestPasswordHashCost:
    def test_defaults_to_owasps_first_configuration(self):
        settings = Settings()
        assert (settings.password_hash_memory_kib, settings.password_hash_time_cost) == (
            19456,
            2,
        )

    @pytest.mark.parametrize(
        ("memory_kib", "time_cost"),
        [(47104, 1), (19456, 2), (12288, 3), (9216, 4), (7168, 5), (7168, 9), (65536, 3)],
    )
    def test_accepts_each_owasp_configuration_in_production(self, memory_kib, time_cost):
        production(
            password_hash_memory_kib=memory_kib, password_hash_time_cost=time_cost
        ).require_production_safe()

    @pytest.mark.parametrize(
        ("memory_kib", "time_cost"), [(47103, 1), (19455, 2), (19456, 1), (8, 1), (7167, 5)]
    )
    def test_refuses_less_than_owasp_in_production(self, memory_kib, time_cost):
        settings = production(
            password_hash_memory_kib=memory_kib, password_hash_time_cost=time_cost
        )
        with pytest.raises(SettingsError, match="TESSERA_PASSWORD_HASH_MEMORY_KIB"):
            settings.require_production_safe()

    @pytest.mark.parametrize("env", ["dev", "test"])
    def test_dev_and_test_may_hash_cheaply(self, env: str):
        settings = production(password_hash_memory_kib=8, password_hash_time_cost=1)
        settings.model_copy(update={"env": env}).require_production_safe()

    @pytest.mark.parametrize(
        ("field", "value"), [("password_hash_memory_kib", 7), ("password_hash_time_cost", 0)]
    )
    def test_refuses_what_argon2_cannot_run(self, field: str, value: int):
        values: dict[str, Any] = {field: value}
        with pytest.raises(ValidationError):
            Settings(**values)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u@h/d", "postgresql+psycopg://u@h/d"),
        ("postgresql://u@h/d", "postgresql+psycopg://u@h/d"),
        ("postgresql+psycopg://u@h/d", "postgresql+psycopg://u@h/d"),
    ],
)
def test_database_urls_use_psycopg(given: str, expected: str):
    assert sqlalchemy_url(given) == expected


class TestForwardedAllowIps:
    def test_defaults_to_loopback(self, monkeypatch: pytest.MonkeyPatch):
        from tessera_core.ops.serve import build_config

        monkeypatch.delenv("TESSERA_FORWARDED_ALLOW_IPS", raising=False)
        assert build_config("x:y", host="127.0.0.1", port=1).forwarded_allow_ips == "127.0.0.1"

    @pytest.mark.parametrize("value", ["*", "10.0.0.1, *"])
    def test_a_wildcard_is_refused(self, monkeypatch: pytest.MonkeyPatch, value: str):
        from tessera_core.ops.serve import build_config

        monkeypatch.setenv("TESSERA_FORWARDED_ALLOW_IPS", value)
        with pytest.raises(SettingsError, match="forge"):
            build_config("x:y", host="127.0.0.1", port=1)
