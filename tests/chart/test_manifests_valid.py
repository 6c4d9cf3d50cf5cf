"""Every rendered manifest is valid against the Kubernetes JSON schemas (strict: unknown
fields fail) of the oldest and newest supported Kubernetes minor; CRD kinds against the
openAPIV3Schema of the upstream CRDs (Gateway API HTTPRoute, prometheus-operator
ServiceMonitor), made strict the same way. What those schemas cannot say offline (their CEL
rules, defaulting) the API-server tests check
(test_apiserver_servers.py, test_release_lifecycle.py)."""

from __future__ import annotations

import copy
import json
import re
from functools import cache
from importlib.resources import files
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
from kubernetes_validate.utils import all_versions
from referencing import Registry, Resource

from tests.chart.conftest import KUBE_VERSIONS, VALUE_SETS, Manifest, render
from tests.chart.kube import crd_schema

pytestmark = pytest.mark.chart

ROUTE = ("gateway.networking.k8s.io/v1", "HTTPRoute")
MONITOR = ("monitoring.coreos.com/v1", "ServiceMonitor")
# Where the objects' metadata is checked: the server's ObjectMeta, not the CRD's schema.
OBJECT_META = {"type": "object", "required": ["name"]}


def strict(schema: dict[str, Any]) -> dict[str, Any]:
    """A structural CRD schema as strict JSON Schema: an object with ``properties`` takes no
    others (the API server prunes unknown fields, or rejects them with strict field
    validation), except where the schema keeps unknown fields on purpose."""
    schema = copy.deepcopy(schema)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if (
                node.get("type") == "object"
                and "properties" in node
                and "additionalProperties" not in node
                and not node.get("x-kubernetes-preserve-unknown-fields")
            ):
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    schema.setdefault("properties", {})["metadata"] = OBJECT_META
    return schema


@pytest.fixture(scope="module")
def crd_validators(upstream_crds: list[Manifest]) -> dict[tuple[str, str], Any]:
    validators = {}
    for api_version, kind in (ROUTE, MONITOR):
        group, version = api_version.split("/")
        schema = strict(crd_schema(upstream_crds, group, kind, version))
        jsonschema.Draft202012Validator.check_schema(schema)
        validators[(api_version, kind)] = jsonschema.Draft202012Validator(schema)
    return validators


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


def validate(
    manifest: Manifest, kube_version: str, crd_validators: dict[tuple[str, str], Any]
) -> None:
    crd = crd_validators.get((manifest["apiVersion"], manifest["kind"]))
    if crd:
        crd.validate(manifest)
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
    def test_every_manifest_validates(
        self,
        helm: str,
        value_set: str,
        kube_version: str,
        crd_validators: dict[tuple[str, str], Any],
    ) -> None:
        manifests = render(helm, value_set, kube_version)
        assert manifests
        errors: list[str] = []
        for manifest in manifests:
            try:
                validate(manifest, kube_version, crd_validators)
            except jsonschema.ValidationError as exc:
                path = ".".join(str(p) for p in exc.absolute_path)
                errors.append(f"{describe(manifest)}: {path}: {exc.message}")
            except kubernetes_validate.SchemaNotFoundError as exc:
                errors.append(f"{describe(manifest)}: no schema: {exc.message}")
        assert errors == []


class TestSameAsKubernetesValidate:
    def test_cached_validator_agrees_with_the_library(
        self, helm: str, crd_validators: dict[tuple[str, str], Any]
    ) -> None:
        manifests = render(helm, "default-values.yaml")
        deployment = next(m for m in manifests if m["kind"] == "Deployment")
        assert kubernetes_validate.validate(deployment, "1.29", strict=True) == "1.29"
        deployment["spec"]["template"]["spec"]["containers"][0]["bogus"] = 1
        with pytest.raises(kubernetes_validate.ValidationError):
            kubernetes_validate.validate(deployment, "1.29", strict=True)
        with pytest.raises(jsonschema.ValidationError):
            validate(deployment, "1.29", crd_validators)


class TestCrdSchemasBite:
    """The upstream schemas, made strict, reject what a real API server would."""

    def _route(self, helm: str) -> dict[str, Any]:
        manifests = render(helm, "default-values.yaml")
        return next(m for m in manifests if m["kind"] == "HTTPRoute")

    @pytest.mark.parametrize(
        ("field", "value", "error"),
        [
            ("prefix", "/x", "Additional properties"),  # an unknown field
            ("type", "Prefix", "is not one of"),  # Ingress's name, not the Gateway API's
        ],
    )
    def test_route_path_match_is_checked(
        self,
        helm: str,
        crd_validators: dict[tuple[str, str], Any],
        field: str,
        value: str,
        error: str,
    ) -> None:
        route = self._route(helm)
        route["spec"]["rules"][0]["matches"][0]["path"][field] = value
        with pytest.raises(jsonschema.ValidationError, match=error):
            crd_validators[ROUTE].validate(route)

    def test_service_monitor_needs_a_selector(
        self, helm: str, crd_validators: dict[tuple[str, str], Any]
    ) -> None:
        manifests = render(helm, "monitoring-netpol-values.yaml")
        monitor = next(m for m in manifests if m["kind"] == "ServiceMonitor")
        del monitor["spec"]["selector"]
        with pytest.raises(jsonschema.ValidationError, match="'selector' is a required property"):
            crd_validators[MONITOR].validate(monitor)

    def test_service_monitor_endpoint_with_unknown_field_is_rejected(
        self, helm: str, crd_validators: dict[tuple[str, str], Any]
    ) -> None:
        manifests = render(helm, "monitoring-netpol-values.yaml")
        monitor = next(m for m in manifests if m["kind"] == "ServiceMonitor")
        monitor["spec"]["endpoints"][0]["intervall"] = "15s"
        with pytest.raises(jsonschema.ValidationError, match="Additional properties"):
            crd_validators[MONITOR].validate(monitor)
