"""The API servers the chart is installed on: the supported Kubernetes range, their
releases, the upstream CRDs established on them and those CRDs' rules enforced."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.chart.apiserver import chart_args, docs, helm_on, ok
from tests.chart.conftest import CHART, KUBE_SERVERS, KUBE_VERSIONS, Manifest
from tests.chart.kube import (
    GATEWAY_API,
    INSTALL_SCRIPT,
    KINE_VERSION,
    PROMETHEUS_OPERATOR,
    KubeServer,
)

# The first use of a server may build it (minutes); the rest takes seconds.
pytestmark = [pytest.mark.chart, pytest.mark.timeout(1800)]


class TestServers:
    def test_servers_are_the_supported_range(self) -> None:
        """The servers are the chart's kubeVersion floor and the newest minor the offline
        schemas cover, and the install script builds exactly these."""
        chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
        floor = re.fullmatch(r">=(\d+\.\d+)\.0-0", chart["kubeVersion"])
        assert floor, chart["kubeVersion"]
        minors = tuple(".".join(v.removeprefix("v").split(".")[:2]) for v in KUBE_SERVERS)
        assert minors == (floor.group(1), KUBE_VERSIONS[-1])
        assert KUBE_VERSIONS[0] == floor.group(1)
        script = INSTALL_SCRIPT.read_text()
        versions = re.search(r'KUBE_VERSIONS="\$\{KUBE_VERSIONS:-([^}]*)\}"', script)
        assert versions
        assert tuple(versions.group(1).split()) == KUBE_SERVERS
        assert f'KINE_VERSION="${{KINE_VERSION:-{KINE_VERSION}}}"' in script

    def test_server_reports_its_release(self, kube_server: KubeServer) -> None:
        assert kube_server.server_version() == kube_server.version

    def test_upstream_crds_are_established(
        self, kube_server: KubeServer, upstream_crds: list[Manifest]
    ) -> None:
        """All of them, but on 1.29: Gateway API v1.6's TLSRoute checks its hostnames with
        the CEL function isIP, which 1.29 does not have. The chart renders no TLSRoute."""
        tls_route = "tlsroutes.gateway.networking.k8s.io"
        if kube_server.version == KUBE_SERVERS[0]:
            assert set(kube_server.refused_crds) == {tls_route}
            assert "undeclared reference to 'isIP'" in kube_server.refused_crds[tls_route]
        else:
            assert kube_server.refused_crds == {}
        crds = {
            c["metadata"]["name"]: c
            for c in kube_server.list_objects("apiextensions.k8s.io/v1", "CustomResourceDefinition")
        }
        assert set(crds) == {c["metadata"]["name"] for c in upstream_crds} - set(
            kube_server.refused_crds
        )
        route = crds["httproutes.gateway.networking.k8s.io"]["metadata"]["annotations"]
        assert route["gateway.networking.k8s.io/bundle-version"] == GATEWAY_API[1]
        assert route["gateway.networking.k8s.io/channel"] == "standard"
        monitor = crds["servicemonitors.monitoring.coreos.com"]["metadata"]["annotations"]
        assert monitor["operator.prometheus.io/version"] == PROMETHEUS_OPERATOR[1].removeprefix("v")
        for crd in crds.values():
            conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
            assert conditions["Established"] == "True", crd["metadata"]["name"]

    def test_server_enforces_the_route_crd_rules(self, kube_server: KubeServer, helm: str) -> None:
        """The HTTPRoute CRD's CEL rules run on the server: a relative path is refused (the
        offline schema cannot say so)."""
        args = chart_args("default", "default-values.yaml", "--kube-version", kube_server.version)
        rendered = docs(ok(helm_on(kube_server, helm, "template", *args)).stdout)
        route = next(d for d in rendered if d["kind"] == "HTTPRoute")
        accepted = kube_server.create(route, "default", dry_run=True)
        assert accepted.status_code == 201, accepted.text
        route["spec"]["rules"][0]["matches"][0]["path"]["value"] = "api/v1/auth"
        refused = kube_server.create(route, "default", dry_run=True)
        assert refused.status_code == 422, refused.text
        assert "must be an absolute path" in refused.json()["message"]
