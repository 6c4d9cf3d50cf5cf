"""The rendered chart's migration hook: `tessera migrate` as compose runs it, with its
database URL Secret in place at hook time."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart.conftest import ROOT, VALUE_SETS, container_env, named, of_kind, pod_spec, render

pytestmark = pytest.mark.chart


def _compose_migrate_command(compose_file: Path) -> list[str]:
    compose = yaml.safe_load(compose_file.read_text())
    service = compose["services"]["migrate"]

    def words(value: Any) -> list[str]:
        if value is None:
            return []
        return shlex.split(value) if isinstance(value, str) else [str(v) for v in value]

    entrypoint, command = words(service.get("entrypoint")), words(service.get("command"))
    if not entrypoint and command[:1] != ["tessera"]:
        entrypoint = ["tessera"]  # the images' entrypoint
    return entrypoint + command


class TestMigrationHook:
    @pytest.mark.parametrize("value_set", VALUE_SETS)
    def test_hook_runs_tessera_migrate(self, helm: str, value_set: str) -> None:
        manifests = render(helm, value_set)
        (job,) = of_kind(manifests, "Job")
        annotations = job["metadata"]["annotations"]
        hooks = set(annotations["helm.sh/hook"].split(","))
        assert "pre-upgrade" in hooks
        assert hooks & {"pre-install", "post-install"}
        (container,) = pod_spec(job)["containers"]
        assert container["command"] + container.get("args", []) == ["tessera", "migrate"]
        assert container_env(container)["TESSERA_DATABASE_URL_FILE"].startswith(
            "/etc/tessera/secrets/"
        )

    @pytest.mark.parametrize("value_set", VALUE_SETS)
    def test_secret_exists_at_hook_time(self, helm: str, value_set: str) -> None:
        manifests = render(helm, value_set)
        (job,) = of_kind(manifests, "Job")
        job_weight = int(job["metadata"]["annotations"]["helm.sh/hook-weight"])
        job_hooks = job["metadata"]["annotations"]["helm.sh/hook"]
        volumes = {v["name"]: v for v in pod_spec(job)["volumes"]}
        secret_name = volumes["secrets"]["secret"]["secretName"]
        values = yaml.safe_load((ROOT / "deploy/helm/tessera/ci" / value_set).read_text())
        if (values.get("secrets") or {}).get("existingSecret"):
            assert secret_name == values["secrets"]["existingSecret"]
            return
        secret = named(manifests, "Secret", "-migrate")
        assert secret["metadata"]["name"] == secret_name
        annotations = secret["metadata"]["annotations"]
        assert annotations["helm.sh/hook"] == job_hooks
        assert int(annotations["helm.sh/hook-weight"]) < job_weight
        assert "hook-succeeded" in annotations["helm.sh/hook-delete-policy"]
        assert set(secret["stringData"]) == {"database-url"}

    def test_in_chart_database_migrates_after_it_starts(self, helm: str) -> None:
        manifests = render(helm, "in-chart-databases-values.yaml")
        (job,) = of_kind(manifests, "Job")
        assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,pre-upgrade"
        (init,) = pod_spec(job)["initContainers"]
        assert "pg_isready" in " ".join(init["command"])

    def test_compose_runs_the_same_command(self, helm: str) -> None:
        compose_file = ROOT / "docker-compose.yml"
        if not compose_file.is_file():
            pytest.skip("docker-compose.yml is not written yet")
        (job,) = of_kind(render(helm, "default-values.yaml"), "Job")
        (container,) = pod_spec(job)["containers"]
        assert _compose_migrate_command(compose_file) == container["command"] + container["args"]
