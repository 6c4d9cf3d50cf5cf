"""What the tests of the chart on a real Kubernetes API server (kine + kube-apiserver on
loopback, see kube.py) share: helm against a server, the chart's arguments, the namespaces."""

from __future__ import annotations

import subprocess
from typing import Any

import yaml

from tests.chart.conftest import CHART, RELEASE, Manifest, run_helm
from tests.chart.kube import KubeServer

RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
}
MIGRATE, TEST_POD, KEYS = f"{RELEASE}-migrate", f"{RELEASE}-test", f"{RELEASE}-signing-keys"
# What a value set says exists outside the chart: created before the install.
PREREQUISITES: dict[str, list[Manifest]] = {
    "existing-secret-values.yaml": [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "tessera-prod"},
            "stringData": {
                "DATABASE_URL": "postgresql://tessera:pw@db.example.internal:5432/tessera",
                "REDIS_URL": "redis://:pw@redis.example.internal:6379/0",
                "CURSOR_SECRET": "c" * 48,
                "FACTOR_KEY": "f" * 48,
                "ADMIN_PASSWORD": "an-admin-password",
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "tessera-prod-signing-keys"},
            "stringData": {"20250101T000000-rs256-a1b2c3.pem": "(a PEM key)"},
        },
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "tessera"}},
    ]
}

Key = tuple[str, str]  # (kind, name)
Objects = dict[Key, Manifest]


def helm_on(
    server: KubeServer, helm: str, *args: str, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return run_helm(helm, *args, env=server.helm_env(), timeout=timeout)


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"helm failed:\n{result.stdout}\n{result.stderr}"
    return result


def chart_args(namespace: str, value_set: str, *extra: str) -> list[str]:
    return [
        RELEASE,
        str(CHART),
        "--namespace",
        namespace,
        "--values",
        str(CHART / "ci" / value_set),
        *extra,
    ]


def docs(text: str) -> list[Manifest]:
    return [d for d in yaml.safe_load_all(text) if d]


def key(obj: Manifest) -> Key:
    return (obj["kind"], obj["metadata"]["name"])


def release_objects(release: dict[str, Any]) -> Objects:
    """What a release (helm's JSON output) renders, hooks aside."""
    return {key(d): d for d in docs(release["manifest"])}


def hook_objects(release: dict[str, Any]) -> Objects:
    return {key(d): d for h in release["hooks"] for d in docs(h["manifest"])}


def is_release_record(k: Key) -> bool:
    return k[0] == "Secret" and k[1].startswith(f"sh.helm.release.v1.{RELEASE}.")


def namespace_for(value_set: str, suffix: str = "") -> str:
    return "vs-" + value_set.removesuffix("-values.yaml") + suffix


def prepare_namespace(server: KubeServer, namespace: str, value_set: str) -> Objects:
    """A namespace that enforces the restricted Pod Security Standard, with what the value
    set expects to exist already; answers what it holds then."""
    server.create_namespace(namespace, RESTRICTED)
    for obj in PREREQUISITES.get(value_set, []):
        response = server.create(obj, namespace)
        assert response.status_code == 201, response.text
    return server.namespace_contents(namespace)


def added(server: KubeServer, namespace: str, before: Objects) -> Objects:
    """What the namespace holds that it did not before, the release records included."""
    return {k: v for k, v in server.namespace_contents(namespace).items() if k not in before}
