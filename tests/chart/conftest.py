"""Chart fixtures: the helm binary, the chart rendered once per value set and Kubernetes
version, the upstream CRDs, and real Kubernetes API servers to install it on.

Rendering runs on local files only. The API servers (``tests/chart/kube.py``) run on
loopback from binaries that ``.ci/install-kube.sh`` builds. The tests that need helm, the
servers or Go (which fetches the CRDs) skip without them on a developer machine and fail
under CI (``CI=true``), where ``.ci/run`` builds them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any, NoReturn

import pytest
import yaml

from tests.chart import kube

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "tessera"
VALUE_SETS = sorted(p.name for p in (CHART / "ci").glob("*-values.yaml"))
# The oldest Kubernetes minor the chart supports (Chart.yaml kubeVersion) and the newest
# one kubernetes-validate ships schemas for.
KUBE_VERSIONS = ("1.29", "1.37")
# The API servers the chart is installed on: the newest patch release of those two minors
# (the same list as .ci/install-kube.sh builds).
KUBE_SERVERS = ("v1.29.15", "v1.37.2")
# The newest server takes every value set through a release's life and its hooks. The
# oldest takes the value sets that, together, render every kind of object any value set
# renders (``test_the_oldest_server_meets_every_kind`` keeps the cover true): what it adds
# is its admission of each kind, which one install per kind shows, while every value set's
# manifests are also validated offline against both versions (test_manifests_valid). Its
# hooks run for the two value sets whose hooks differ (existing-secret has no copy of the
# database URL). Installs are the slowest chart tests (~5 s each).
OLDEST_SERVER_VALUE_SETS = (
    "autoscaling-values.yaml",
    "in-chart-databases-values.yaml",
    "ingress-values.yaml",
    "monitoring-netpol-values.yaml",
)
OLDEST_SERVER_HOOK_VALUE_SETS = ("default-values.yaml", "existing-secret-values.yaml")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
RELEASE = "tessera"
NAMESPACE = "identity"

Manifest = dict[str, Any]


def _beyond_the_oldest_servers_share(item: pytest.Item) -> bool:
    params = getattr(getattr(item, "callspec", None), "params", {})
    if params.get("kube_server") != KUBE_SERVERS[0]:
        return False
    if "lifecycle" in params:
        return params["lifecycle"] not in OLDEST_SERVER_VALUE_SETS
    if item.path.name == "test_hooks.py":
        return params.get("value_set") not in OLDEST_SERVER_HOOK_VALUE_SETS
    return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out the oldest server's installs beyond its share (``OLDEST_SERVER_...``)."""
    dropped = [item for item in items if _beyond_the_oldest_servers_share(item)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if not _beyond_the_oldest_servers_share(item)]


def find_helm() -> str | None:
    cached = Path.home() / ".cache" / "tessera" / "bin" / "helm"
    return shutil.which("helm") or (str(cached) if cached.is_file() else None)


@pytest.fixture(scope="session")
def helm() -> str:
    binary = find_helm()
    if binary is None:
        unavailable("helm is not installed (build it with .ci/install-helm.sh)")
    return binary


def unavailable(reason: str) -> NoReturn:
    """Skip on a developer machine; fail under CI, which must run every chart test."""
    if IN_CI:
        pytest.fail(f"{reason}; CI must run the chart tests", pytrace=False)
    pytest.skip(reason)


def run_helm(
    helm: str, *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    base = {**os.environ, "HELM_CACHE_HOME": "/nonexistent-no-cache", "HELM_NO_PLUGINS": "1"}
    return subprocess.run(
        [helm, *args],
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="session")
def upstream_crds() -> list[Manifest]:
    """The Gateway API (standard channel) and prometheus-operator ServiceMonitor CRDs, from
    those projects' Go modules."""
    try:
        return kube.upstream_crds()
    except kube.KubeUnavailable as exc:
        unavailable(str(exc))


@pytest.fixture(scope="session", params=KUBE_SERVERS, ids=lambda v: f"k8s-{v}")
def kube_server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    upstream_crds: list[Manifest],
) -> Iterator[kube.KubeServer]:
    """kine + kube-apiserver of one Kubernetes version on loopback, with the upstream CRDs
    installed; built first if not cached (minutes), stopped once its tests are done."""
    version: str = request.param
    try:
        kube.ensure_binaries(version)
    except kube.KubeUnavailable as exc:
        unavailable(str(exc))
    with kube.running_server(version, tmp_path_factory.mktemp(f"kube-{version}")) as server:
        server.refused_crds = server.install_crds(upstream_crds)
        yield server


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


def workloads(manifests: list[Manifest]) -> list[Manifest]:
    kinds = {"Deployment", "StatefulSet", "Job", "Pod"}
    return [m for m in manifests if m["kind"] in kinds]


def container_env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", "<from>") for e in container.get("env", [])}


def all_env(manifests: list[Manifest], container: dict[str, Any]) -> dict[str, str]:
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        name = source["configMapRef"]["name"]
        env.update(named(manifests, "ConfigMap", name)["data"])
    env.update(container_env(container))
    return env


def deployment_of(manifests: list[Manifest], component: str) -> Manifest:
    return named(manifests, "Deployment", f"-{component}")


def container_of(manifests: list[Manifest], component: str) -> dict[str, Any]:
    containers = pod_spec(deployment_of(manifests, component))["containers"]
    assert len(containers) == 1
    container: dict[str, Any] = containers[0]
    return container
