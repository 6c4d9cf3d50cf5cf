"""The rendered chart's pods run as non-root with read-only root filesystems and no
privileges (the security contexts)."""

from __future__ import annotations

import pytest

from tests.chart.conftest import (
    VALUE_SETS,
    container_env,
    container_of,
    pod_spec,
    render,
    workloads,
)

pytestmark = pytest.mark.chart


class TestSecurity:
    @pytest.mark.parametrize("value_set", VALUE_SETS)
    def test_pods_run_as_non_root(self, helm: str, value_set: str) -> None:
        manifests = render(helm, value_set)
        for workload in workloads(manifests):
            spec = pod_spec(workload)
            where = f"{workload['kind']}/{workload['metadata']['name']}"
            assert spec["securityContext"]["runAsNonRoot"] is True, where
            assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, where
            assert spec["automountServiceAccountToken"] is False, where
            for container in spec["containers"] + spec.get("initContainers", []):
                context = container["securityContext"]
                assert context["allowPrivilegeEscalation"] is False, where
                assert context["readOnlyRootFilesystem"] is True, where
                assert context["capabilities"]["drop"] == ["ALL"], where
                assert "resources" in container, where

    @pytest.mark.parametrize("value_set", VALUE_SETS)
    def test_tessera_pods_run_as_the_image_user(self, helm: str, value_set: str) -> None:
        manifests = render(helm, value_set)
        for workload in workloads(manifests):
            if workload["kind"] == "StatefulSet":
                continue  # postgres and redis run as their images' own users
            spec = pod_spec(workload)
            assert spec["securityContext"]["runAsUser"] == 10001
            mounts = {m["mountPath"] for c in spec["containers"] for m in c["volumeMounts"]}
            assert "/tmp" in mounts  # the root filesystem is read-only

    def test_several_workers_get_a_metrics_directory(self, helm: str) -> None:
        manifests = render(helm, "autoscaling-values.yaml")
        container = container_of(manifests, "auth")
        directory = container_env(container)["PROMETHEUS_MULTIPROC_DIR"]
        assert directory in {m["mountPath"] for m in container["volumeMounts"]}
        assert container_env(container)["TESSERA_WORKERS"] == "2"
