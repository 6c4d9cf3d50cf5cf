"""values.schema.json rejects bad values with a message that names the value; the
templates refuse incomplete configurations with a message that says what to set."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from tests.chart.conftest import CHART, run_helm

pytestmark = pytest.mark.chart

DEFAULTS = str(CHART / "ci" / "default-values.yaml")


def template(helm: str, *args: str) -> tuple[int, str]:
    result = run_helm(
        helm, "template", "t", str(CHART), "--kube-version", "1.37.0", "--values", DEFAULTS, *args
    )
    return result.returncode, result.stderr


class TestSchemaRejects:
    def test_negative_replica_count(self, helm: str) -> None:
        code, err = template(helm, "--set", "auth.replicaCount=-1")
        assert code != 0
        assert "values don't meet the specifications of the schema" in err
        assert "at '/auth/replicaCount': minimum: got -1, want 0" in err

    def test_unknown_key(self, helm: str) -> None:
        code, err = template(helm, "--set", "users.replicas=3")
        assert code != 0
        assert "at '/users': additional properties 'replicas' not allowed" in err

    def test_unknown_top_level_key(self, helm: str) -> None:
        code, err = template(helm, "--set", "postgres.enabled=true")
        assert code != 0
        assert "additional properties 'postgres' not allowed" in err

    def test_port_out_of_range(self, helm: str) -> None:
        code, err = template(helm, "--set", "auth.port=70000")
        assert code != 0
        assert "at '/auth/port': maximum: got 70,000, want 65,535" in err

    def test_setting_name_without_prefix(self, helm: str) -> None:
        code, err = template(helm, "--set", "config.extra.LOG_LEVEL=DEBUG")
        assert code != 0
        assert "'LOG_LEVEL' does not match pattern '^TESSERA_[A-Z0-9_]+$'" in err

    def test_lint_reports_the_schema_error(self, helm: str) -> None:
        result = run_helm(helm, "lint", "--strict", str(CHART), "--set", "auth.replicaCount=-1")
        assert result.returncode != 0
        assert "minimum: got -1, want 0" in result.stdout + result.stderr


class TestTemplatesRefuse:
    def test_missing_database_url(self, helm: str) -> None:
        result = run_helm(helm, "template", "t", str(CHART), "--kube-version", "1.37.0")
        assert result.returncode != 0
        assert "set secrets.databaseUrl" in result.stderr or "signing key" in result.stderr

    def test_missing_signing_key(self, helm: str) -> None:
        code, err = template(helm, "--set", "signingKeys.keys=null")
        assert code != 0
        assert "the auth service needs a signing key" in err

    def test_pinned_kid_must_exist(self, helm: str) -> None:
        code, err = template(helm, "--set", "signingKeys.activeKid=nope")
        assert code != 0
        assert "signingKeys.activeKid=nope has no nope.pem" in err


def _undocumented(values: dict[str, Any], schema: dict[str, Any], prefix: str = "") -> list[str]:
    """Paths of values.yaml whose schema node is missing or has no description; free-form
    maps (resources, security contexts, settings) are documented as a whole."""
    missing = []
    for key, value in values.items():
        path = f"{prefix}{key}"
        node = schema.get("properties", {}).get(key)
        if node is None or not node.get("description"):
            missing.append(path)
        elif (
            isinstance(value, dict)
            and "properties" in node
            and "requests" not in node["properties"]
        ):
            missing += _undocumented(value, node, f"{path}.")
    return missing


class TestSchemaDocumentsEveryValue:
    def test_every_value_has_a_described_schema(self) -> None:
        schema = json.loads((CHART / "values.schema.json").read_text())
        values = yaml.safe_load((CHART / "values.yaml").read_text())
        assert _undocumented(values, schema) == []

    def test_objects_are_closed(self) -> None:
        schema = json.loads((CHART / "values.schema.json").read_text())
        open_objects = []

        def walk(node: dict[str, Any], path: str) -> None:
            if "properties" in node and node.get("additionalProperties") is not False:
                open_objects.append(path or "<root>")
            for key, child in node.get("properties", {}).items():
                walk(child, f"{path}.{key}".lstrip("."))

        walk(schema, "")
        assert open_objects == []


class TestTrustedProxies:
    @staticmethod
    def forwarded_allow_ips(manifests: list[dict[str, Any]]) -> set[str]:
        values = set()
        for manifest in manifests:
            if manifest["kind"] != "Deployment":
                continue
            for container in manifest["spec"]["template"]["spec"]["containers"]:
                for env in container.get("env", []):
                    if env["name"] == "TESSERA_FORWARDED_ALLOW_IPS":
                        values.add(env["value"])
        return values

    def test_default_trusts_the_private_ranges_never_everyone(self, helm: str) -> None:
        from tests.chart.conftest import render

        assert self.forwarded_allow_ips(render(helm, "default-values.yaml")) == {
            "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16"
        }

    def test_derived_from_values(self, helm: str) -> None:
        from tests.chart.conftest import render

        manifests = render(
            helm,
            "default-values.yaml",
            "1.37",
            "--set",
            "config.trustedProxies={10.8.0.0/14,130.211.0.0/22}",
        )
        assert self.forwarded_allow_ips(manifests) == {"10.8.0.0/14,130.211.0.0/22"}

    def test_a_wildcard_is_refused(self, helm: str) -> None:
        code, err = template(helm, "--set", "config.trustedProxies={*}")
        assert code != 0
        assert "/config/trustedProxies/0" in err
