"""The rendered chart's environment agrees with the apps' settings: every variable is one,
the required ones are set, and secrets come from mounted files."""

from __future__ import annotations

import json
import re

import pytest

from tessera_core.cli import CLI_ENVIRONMENT
from tessera_core.settings import Settings
from tests.chart.conftest import (
    KUBE_VERSIONS,
    VALUE_SETS,
    all_env,
    container_env,
    container_of,
    deployment_of,
    named,
    of_kind,
    pod_spec,
    render,
)

pytestmark = pytest.mark.chart

REQUIRED = {
    "auth": {"ENV", "DATABASE_URL", "REDIS_URL", "KEYS_DIR", "ISSUER", "AUDIENCE", "FACTOR_KEY"},
    "users": {
        "ENV",
        "DATABASE_URL",
        "REDIS_URL",
        "JWKS_URL",
        "ISSUER",
        "AUDIENCE",
        "CURSOR_SECRET",
    },
}


class TestSettings:
    @pytest.mark.parametrize("value_set", VALUE_SETS)
    @pytest.mark.parametrize("component", ["auth", "users"])
    def test_every_variable_is_a_setting(self, helm: str, value_set: str, component: str) -> None:
        manifests = render(helm, value_set)
        fields = {name.upper() for name in Settings.model_fields}
        env = all_env(manifests, container_of(manifests, component))
        unknown = []
        for name in env:
            if not name.startswith("TESSERA_") or name in CLI_ENVIRONMENT:
                continue
            field = name.removeprefix("TESSERA_").removesuffix("_FILE")
            if field not in fields:
                unknown.append(name)
        assert unknown == []

    @pytest.mark.parametrize("value_set", VALUE_SETS)
    @pytest.mark.parametrize("component", ["auth", "users"])
    def test_required_settings_are_set(self, helm: str, value_set: str, component: str) -> None:
        manifests = render(helm, value_set)
        env = all_env(manifests, container_of(manifests, component))
        given = {n.removeprefix("TESSERA_").removesuffix("_FILE") for n in env}
        required = {r for r in REQUIRED[component] if r.lower() in Settings.model_fields}
        assert required <= given
        assert env["TESSERA_ENV"] == "production"

    def test_jwks_url_is_the_auth_service(self, helm: str) -> None:
        manifests = render(helm, "default-values.yaml")
        env = container_env(container_of(manifests, "users"))
        service = named(manifests, "Service", "-auth")["metadata"]["name"]
        assert env["TESSERA_JWKS_URL"] == (
            f"http://{service}.identity.svc:8001/.well-known/jwks.json"
        )

    @pytest.mark.parametrize(
        ("values", "rp_id", "origins"),
        [
            ((), "id.example.com", '["https://id.example.com"]'),
            (
                ("--set", "config.publicUrl=https://login.example.org:8443"),
                "login.example.org",
                '["https://login.example.org:8443"]',
            ),
            (
                (
                    "--set-json",
                    'config.extra={"TESSERA_WEBAUTHN_ORIGINS": "[\\"https://app.example.net\\"]"}',
                ),
                "id.example.com",
                '["https://app.example.net"]',
            ),
        ],
    )
    def test_the_passkey_relying_party_is_the_public_host(
        self,
        helm: str,
        values: tuple[str, ...],
        rp_id: str,
        origins: str,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        manifests = render(helm, "default-values.yaml", KUBE_VERSIONS[-1], *values)
        data = named(manifests, "ConfigMap", "tessera")["data"]
        assert (data["TESSERA_WEBAUTHN_RP_ID"], data["TESSERA_WEBAUTHN_ORIGINS"]) == (
            rp_id,
            origins,
        )
        # As the service reads it from the environment: a JSON list.
        monkeypatch.setenv("TESSERA_WEBAUTHN_ORIGINS", origins)
        assert Settings().webauthn_origins == json.loads(origins)

    @pytest.mark.parametrize("value_set", VALUE_SETS)
    @pytest.mark.parametrize("component", ["auth", "users"])
    def test_secret_files_are_mounted(self, helm: str, value_set: str, component: str) -> None:
        """Every TESSERA_*_FILE points at a file some mounted Secret provides; the
        second-factor key is mounted into the auth pods alone."""
        manifests = render(helm, value_set)
        spec = pod_spec(deployment_of(manifests, component))
        container = container_of(manifests, component)
        volumes = {v["name"]: v for v in spec["volumes"]}
        files: set[str] = set()
        for mount in container["volumeMounts"]:
            secret = volumes[mount["name"]].get("secret")
            if secret:
                for item in secret.get("items", []):
                    files.add(f"{mount['mountPath']}/{item['path']}")
        env = container_env(container)
        for name, value in env.items():
            if name.endswith("_FILE"):
                assert value in files, name
        # The second-factor key reaches the auth pods only: never the users pods' env or files.
        factor_key = "/etc/tessera/secrets/factor-key"
        if component == "auth":
            assert env["TESSERA_FACTOR_KEY_FILE"] == factor_key
            assert factor_key in files
        else:
            assert "TESSERA_FACTOR_KEY_FILE" not in env
            assert factor_key not in files

    @pytest.mark.parametrize("value_set", VALUE_SETS)
    def test_no_secret_in_plain_environment(self, helm: str, value_set: str) -> None:
        manifests = render(helm, value_set)
        for configmap in of_kind(manifests, "ConfigMap"):
            for name in configmap["data"]:
                assert not re.search(
                    r"URL$|SECRET|PASSWORD", name.removeprefix("TESSERA_PUBLIC")
                ), name
        for component in ("auth", "users"):
            for name, value in container_env(container_of(manifests, component)).items():
                assert "://" not in value or name in {"TESSERA_JWKS_URL"}, name
