"""The rendered chart's scaling: the HPA, spread and disruption budgets, rollout on a
config change, images pinned to the app version."""

from __future__ import annotations

import pytest
import yaml

from tests.chart.conftest import ROOT, container_of, deployment_of, named, of_kind, pod_spec, render

pytestmark = pytest.mark.chart


class TestScaling:
    def test_hpa_owns_the_replica_count(self, helm: str) -> None:
        manifests = render(helm, "autoscaling-values.yaml")
        for component in ("auth", "users"):
            assert "replicas" not in deployment_of(manifests, component)["spec"]
            hpa = named(manifests, "HorizontalPodAutoscaler", f"-{component}")
            target = hpa["spec"]["scaleTargetRef"]
            assert target["name"] == deployment_of(manifests, component)["metadata"]["name"]
        metrics = named(manifests, "HorizontalPodAutoscaler", "-auth")["spec"]["metrics"]
        assert {m["resource"]["name"] for m in metrics} == {"cpu", "memory"}

    def test_defaults_spread_pods_and_keep_some_up(self, helm: str) -> None:
        manifests = render(helm, "default-values.yaml")
        for component in ("auth", "users"):
            spec = pod_spec(deployment_of(manifests, component))
            keys = {c["topologyKey"] for c in spec["topologySpreadConstraints"]}
            assert keys == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
            assert named(manifests, "PodDisruptionBudget", f"-{component}")
            assert of_kind(manifests, "HorizontalPodAutoscaler") == []

    def test_config_change_rolls_the_pods(self, helm: str) -> None:
        before = render(helm, "default-values.yaml")
        after = render(helm, "default-values.yaml", "1.37", "--set", "config.logLevel=DEBUG")
        for component in ("auth", "users"):
            old = deployment_of(before, component)["spec"]["template"]["metadata"]["annotations"]
            new = deployment_of(after, component)["spec"]["template"]["metadata"]["annotations"]
            assert old["checksum/config"] != new["checksum/config"]

    def test_images_pinned_to_app_version(self, helm: str) -> None:
        chart = yaml.safe_load((ROOT / "deploy/helm/tessera/Chart.yaml").read_text())
        manifests = render(helm, "default-values.yaml")
        for component in ("auth", "users"):
            image = container_of(manifests, component)["image"]
            assert image == f"ghcr.io/tessera/tessera-{component}:{chart['appVersion']}"
