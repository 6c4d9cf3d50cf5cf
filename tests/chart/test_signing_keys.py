"""Where the rendered chart puts the private signing keys (the auth pods only), and that
auth loads the keys the chart generates or is given."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.chart.conftest import (
    ROOT,
    VALUE_SETS,
    Manifest,
    container_env,
    container_of,
    deployment_of,
    named,
    pod_spec,
    render,
    workloads,
)

pytestmark = pytest.mark.chart


def _keys_secret_name(manifests: list[Manifest], value_set: str) -> str:
    values = yaml.safe_load((ROOT / "deploy/helm/tessera/ci" / value_set).read_text()) or {}
    existing = (values.get("signingKeys") or {}).get("existingSecret")
    if existing:
        return str(existing)
    return named(manifests, "Secret", "-signing-keys")["metadata"]["name"]


class TestSigningKeys:
    @pytest.mark.parametrize("value_set", VALUE_SETS)
    def test_private_keys_mounted_into_auth_only(self, helm: str, value_set: str) -> None:
        manifests = render(helm, value_set)
        keys_secret = _keys_secret_name(manifests, value_set)
        holders = []
        for workload in workloads(manifests):
            spec = pod_spec(workload)
            for volume in spec.get("volumes", []):
                sources = [volume.get("secret", {})]
                sources += [
                    s.get("secret", {}) for s in volume.get("projected", {}).get("sources", [])
                ]
                if any(s.get("secretName", s.get("name")) == keys_secret for s in sources):
                    holders.append((workload["kind"], workload["metadata"]["name"], volume["name"]))
            for container in spec.get("containers", []) + spec.get("initContainers", []):
                for env in container.get("env", []) + container.get("envFrom", []):
                    ref = (env.get("valueFrom") or {}).get("secretKeyRef") or env.get("secretRef")
                    assert not ref or ref["name"] != keys_secret
        auth = deployment_of(manifests, "auth")["metadata"]["name"]
        assert holders == [("Deployment", auth, "signing-keys")]
        container = container_of(manifests, "auth")
        (mount,) = [m for m in container["volumeMounts"] if m["name"] == "signing-keys"]
        assert mount["readOnly"] is True
        assert "subPath" not in mount  # a subPath mount would never see a rotated key
        assert container_env(container)["TESSERA_KEYS_DIR"] == mount["mountPath"]

    @pytest.mark.parametrize("value_set", VALUE_SETS)
    def test_keys_do_not_roll_pods(self, helm: str, value_set: str) -> None:
        manifests = render(helm, value_set)
        annotations = deployment_of(manifests, "auth")["spec"]["template"]["metadata"][
            "annotations"
        ]
        assert "checksum/config" in annotations
        assert not any("key" in name for name in annotations)

    @pytest.mark.parametrize("algorithm", ["RS256", "ES256", "EdDSA"])
    def test_auth_loads_the_keys_the_chart_generates(
        self, helm: str, tmp_path: Path, algorithm: str
    ) -> None:
        from tessera_auth.keys.keystore import KeyStore

        manifests = render(
            helm, "in-chart-databases-values.yaml", "1.37",
            "--set", f"signingKeys.generateAlgorithm={algorithm}",
        )  # fmt: skip
        secret = named(manifests, "Secret", "-signing-keys")
        for file_name, pem in secret["stringData"].items():
            (tmp_path / file_name).write_text(pem)
        store = KeyStore(tmp_path)
        assert store.active.alg == algorithm
        assert store.active.kid == Path(next(iter(secret["stringData"]))).stem

    def test_given_keys_are_written_verbatim(self, helm: str, tmp_path: Path) -> None:
        from tessera_auth.keys.keystore import KeyStore

        manifests = render(helm, "default-values.yaml")
        secret = named(manifests, "Secret", "-signing-keys")
        values = yaml.safe_load((ROOT / "deploy/helm/tessera/ci/default-values.yaml").read_text())
        given = values["signingKeys"]["keys"]
        assert {k: v.strip() for k, v in secret["stringData"].items()} == {
            k: v.strip() for k, v in given.items()
        }
        for file_name, pem in secret["stringData"].items():
            (tmp_path / file_name).write_text(pem)
        assert KeyStore(tmp_path).active.kid == "20250101T000000-es256-c1c1c1"
