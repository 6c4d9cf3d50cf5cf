"""Every rendered manifest is valid against the Kubernetes JSON schemas (strict: unknown
fields fail) of the oldest and newest supported Kubernetes minor; CRD kinds against the
vendored HTTPRoute and ServiceMonitor schemas in tests/chart/schemas/."""

from __future__ import annotations

import json
import re
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
from kubernetes_validate.utils import all_versions
from referencing import Registry, Resource

from tests.chart.conftest import KUBE_VERSIONS, VALUE_SETS, Manifest, render

pytestmark = pytest.mark.chart

SCHEMAS = Path(__file__).parent / "schemas"
CRD_SCHEMAS = {
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): "httproute-gateway-v1.json",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor-monitoring-v1.json",
}


@cache
def crd_validator(file_name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMAS / file_name).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@cache
def k8s_validator(
    api_version: str, kind: str, kube_version: str
) -> jsonschema.Draft202012Validator:
    """kubernetes-validate's strict schema for one kind, built once (its ``validate`` reloads
    the multi-megabyte definitions file on every call). Same files, same resolution."""
    directory = (
        files("kubernetes_validate") / "kubernetes-json-schema" / f"v{kube_version}.0-local-strict"
    )
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    schema_file = directory / f"{kind.lower()}-{group_version}.json"
    if not schema_file.is_file():
        raise kubernetes_validate.SchemaNotFoundError(kind, kube_version, api_version)
    schema = json.loads(schema_file.read_text())
    registry: Registry = Resource.from_contents(schema) @ Registry()
    registry = Resource.from_contents(definitions(kube_version)) @ registry
    return jsonschema.Draft202012Validator(schema, registry=registry)


@cache
def definitions(kube_version: str) -> dict[str, Any]:
    directory = (
        files("kubernetes_validate") / "kubernetes-json-schema" / f"v{kube_version}.0-local-strict"
    )
    loaded: dict[str, Any] = json.loads((directory / "_definitions.json").read_text())
    return loaded


def validate(manifest: Manifest, kube_version: str) -> None:
    crd = CRD_SCHEMAS.get((manifest["apiVersion"], manifest["kind"]))
    if crd:
        crd_validator(crd).validate(manifest)
    else:
        k8s_validator(manifest["apiVersion"], manifest["kind"], kube_version).validate(manifest)


def describe(manifest: Manifest) -> str:
    return f"{manifest['kind']}/{manifest['metadata']['name']}"


class TestKubernetesVersions:
    def test_validator_ships_both_versions(self) -> None:
        shipped = {".".join(v.split(".")[:2]) for v in all_versions()}
        assert set(KUBE_VERSIONS) <= shipped
        assert KUBE_VERSIONS[-1] == max(shipped, key=lambda v: tuple(map(int, v.split("."))))


class TestManifestsValid:
    @pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
    @pytest.mark.parametrize("value_set", VALUE_SETS)
    def test_every_manifest_validates(self, helm: str, value_set: str, kube_version: str) -> None:
        manifests = render(helm, value_set, kube_version)
        assert manifests
        errors: list[str] = []
        for manifest in manifests:
            try:
                validate(manifest, kube_version)
            except jsonschema.ValidationError as exc:
                path = ".".join(str(p) for p in exc.absolute_path)
                errors.append(f"{describe(manifest)}: {path}: {exc.message}")
            except kubernetes_validate.SchemaNotFoundError as exc:
                errors.append(f"{describe(manifest)}: no schema: {exc.message}")
        assert errors == []


class TestSameAsKubernetesValidate:
    def test_cached_validator_agrees_with_the_library(self, helm: str) -> None:
        manifests = render(helm, "default-values.yaml")
        deployment = next(m for m in manifests if m["kind"] == "Deployment")
        assert kubernetes_validate.validate(deployment, "1.29", strict=True) == "1.29"
        deployment["spec"]["template"]["spec"]["containers"][0]["bogus"] = 1
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(deployment, "1.29", strict=True)
        with pytest.raises(jsonschema.ValidationError):
            validate(deployment, "1.29")


class TestCrdSchemasBite:
    """The vendored schemas are strict where the chart writes: they reject what a real
    API server would."""

    def _route(self, helm: str) -> dict[str, Any]:
        manifests = render(helm, "default-values.yaml")
        return next(m for m in manifests if m["kind"] == "HTTPRoute")

    def test_route_with_unknown_field_is_rejected(self, helm: str) -> None:
        route = self._route(helm)
        route["spec"]["rules"][0]["matches"][0]["path"]["prefix"] = "/x"
        with pytest.raises(jsonschema.ValidationError, match="Additional properties"):
            crd_validator(CRD_SCHEMAS[("gateway.networking.k8s.io/v1", "HTTPRoute")]).validate(
                route
            )

    def test_route_path_must_be_absolute(self, helm: str) -> None:
        route = self._route(helm)
        route["spec"]["rules"][0]["matches"][0]["path"]["value"] = "api/v1/auth"
        with pytest.raises(jsonschema.ValidationError):
            crd_validator(CRD_SCHEMAS[("gateway.networking.k8s.io/v1", "HTTPRoute")]).validate(
                route
            )

    def test_service_monitor_needs_a_selector(self, helm: str) -> None:
        manifests = render(helm, "monitoring-netpol-values.yaml")
        monitor = next(m for m in manifests if m["kind"] == "ServiceMonitor")
        del monitor["spec"]["selector"]
        with pytest.raises(jsonschema.ValidationError, match="'selector' is a required property"):
            crd_validator(CRD_SCHEMAS[("monitoring.coreos.com/v1", "ServiceMonitor")]).validate(
                monitor
            )
