"""The rendered chart's NetworkPolicies: users reach auth, and nothing is open to all."""

from __future__ import annotations

import pytest

from tests.chart.conftest import of_kind, render

pytestmark = pytest.mark.chart


class TestNetworkPolicy:
    def test_users_reach_auth_and_nothing_is_open(self, helm: str) -> None:
        manifests = render(helm, "monitoring-netpol-values.yaml")
        policies = {
            p["metadata"]["name"].rsplit("-", 1)[1]: p for p in of_kind(manifests, "NetworkPolicy")
        }
        assert {"auth", "users", "migrate", "test"} <= policies.keys()
        for policy in policies.values():
            assert set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"}
            for rule in policy["spec"].get("ingress", []):
                assert rule.get("from"), "an ingress rule without peers admits everyone"
        users_egress = policies["users"]["spec"]["egress"]
        to_auth = [
            rule for rule in users_egress
            if any(peer.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/component") == "auth"
                   for peer in rule.get("to", []))
        ]  # fmt: skip
        assert to_auth
        assert to_auth[0]["ports"] == [{"port": 8001, "protocol": "TCP"}]
        auth_from = [peer for rule in policies["auth"]["spec"]["ingress"] for peer in rule["from"]]
        components = {
            p.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/component")
            for p in auth_from
        }
        assert "users" in components
        egress_ports = {
            port["port"] for rule in policies["auth"]["spec"]["egress"] for port in rule["ports"]
        }
        assert egress_ports == {53, 5432, 6379}
