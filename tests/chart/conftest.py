"""Chart fixtures: the helm binary and the chart rendered once per value set and Kubernetes version.

Helm runs on local files only: no cluster, no network. Without helm the chart tests skip
on a developer machine and fail under CI (``CI=true``), where ``.ci/install-helm.sh`` builds it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "tessera"
VALUE_SETS = sorted(p.name for p in (CHART / "ci").glob("*-values.yaml"))
# The oldest Kubernetes minor the chart supports (Chart.yaml kubeVersion) and the newest
# one kubernetes-validate ships schemas for.
KUBE_VERSIONS = ("1.29", "1.37")
RELEASE = "tessera"
NAMESPACE = "identity"

Manifest = dict[str, Any]


def find_helm() -> str | None:
    cached = Path.home() / ".cache" / "tessera" / "bin" / "helm"
    return shutil.which("helm") or (str(cached) if cached.is_file() else None)


@pytest.fixture(scope="session")
def helm() -> str:
    binary = find_helm()
    if binary is None:
        reason = "helm is not installed (build it with .ci/install-helm.sh)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must run the chart tests", pytrace=False)
        pytest.skip(reason)
    return binary


def run_helm(helm: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HELM_CACHE_HOME": "/nonexistent-no-cache", "HELM_NO_PLUGINS": "1"}
    return subprocess.run(
        [helm, *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


@cache
def _render(helm: str, value_set: str | None, kube_version: str, extra: tuple[str, ...]) -> str:
    args = ["template", RELEASE, str(CHART), "--namespace", NAMESPACE]
    args += ["--kube-version", f"{kube_version}.0"]
    if value_set:
        args += ["--values", str(CHART / "ci" / value_set)]
    args += list(extra)
    result = run_helm(helm, *args)
    if result.returncode != 0:
        raise AssertionError(f"helm template {value_set} failed:\n{result.stderr}")
    return result.stdout


def render(
    helm: str, value_set: str | None = None, kube_version: str = KUBE_VERSIONS[-1], *extra: str
) -> list[Manifest]:
    """The manifests ``helm template`` renders, hooks and test pods included."""
    text = _render(helm, value_set, kube_version, tuple(extra))
    return [doc for doc in yaml.safe_load_all(text) if doc]


def of_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def named(manifests: list[Manifest], kind: str, suffix: str) -> Manifest:
    matches = [m for m in of_kind(manifests, kind) if m["metadata"]["name"].endswith(suffix)]
    assert len(matches) == 1, f"expected one {kind} named *{suffix}, got {len(matches)}"
    return matches[0]


def pod_spec(manifest: Manifest) -> dict[str, Any]:
    spec: dict[str, Any] = (
        manifest["spec"] if manifest["kind"] == "Pod" else manifest["spec"]["template"]["spec"]
    )
    return spec
