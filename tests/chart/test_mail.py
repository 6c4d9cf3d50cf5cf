"""Mail settings: the chart hands the SMTP relay to the services and its password to the
auth pods only, as a file from the Secret."""

from __future__ import annotations

import pytest

from tests.chart.conftest import (
    all_env,
    container_env,
    container_of,
    deployment_of,
    of_kind,
    pod_spec,
    render,
)

pytestmark = pytest.mark.chart


class TestMail:
    def test_the_relay_and_its_password_reach_auth(self, helm: str) -> None:
        manifests = render(helm, "mail-values.yaml")
        env = all_env(manifests, container_of(manifests, "auth"))
        assert env["TESSERA_SMTP_HOST"] == "smtp.example.com"
        assert env["TESSERA_SMTP_TLS"] == "starttls"
        assert env["TESSERA_SMTP_USERNAME"] == "tessera"
        assert env["TESSERA_MAIL_LINK_BASE"] == "https://app.example.com"
        assert env["TESSERA_REQUIRE_VERIFIED_EMAIL"] == "true"
        assert env["TESSERA_SMTP_PASSWORD_FILE"] == "/etc/tessera/secrets/smtp-password"
        (secret,) = [s for s in of_kind(manifests, "Secret") if s["metadata"]["name"] == "tessera"]
        assert secret["stringData"]["smtp-password"] == "ci-smtp-password"
        volumes = pod_spec(deployment_of(manifests, "auth"))["volumes"]
        items = [i for v in volumes if "secret" in v for i in v["secret"].get("items", [])]
        assert {"key": "smtp-password", "path": "smtp-password"} in items

    def test_users_never_get_the_password(self, helm: str) -> None:
        manifests = render(helm, "mail-values.yaml")
        assert "TESSERA_SMTP_PASSWORD_FILE" not in container_env(container_of(manifests, "users"))
        volumes = pod_spec(deployment_of(manifests, "users"))["volumes"]
        paths = [i["path"] for v in volumes if "secret" in v for i in v["secret"].get("items", [])]
        assert "smtp-password" not in paths

    def test_no_relay_by_default(self, helm: str) -> None:
        manifests = render(helm, "default-values.yaml")
        (configmap,) = of_kind(manifests, "ConfigMap")
        assert configmap["data"]["TESSERA_SMTP_HOST"] == ""

    def test_a_username_needs_a_password(self, helm: str) -> None:
        from tests.chart.conftest import CHART, run_helm

        result = run_helm(
            helm,
            "template",
            "t",
            str(CHART),
            "--kube-version",
            "1.37.0",
            "--values",
            str(CHART / "ci" / "default-values.yaml"),
            "--set",
            "mail.smtpUsername=tessera",
        )
        assert result.returncode != 0
        assert "set secrets.smtpPassword too" in result.stderr

    def test_auth_may_reach_the_relay_and_users_may_not(self, helm: str) -> None:
        manifests = render(helm, "mail-values.yaml")
        policies = {p["metadata"]["name"]: p for p in of_kind(manifests, "NetworkPolicy")}

        def smtp_rules(name: str) -> list[dict[str, object]]:
            egress = policies[name]["spec"]["egress"]
            return [r for r in egress if {"port": 587, "protocol": "TCP"} in r["ports"]]

        assert smtp_rules("tessera-auth") == [
            {
                "to": [{"ipBlock": {"cidr": "203.0.113.25/32"}}],
                "ports": [{"port": 587, "protocol": "TCP"}],
            }
        ]
        assert smtp_rules("tessera-users") == []
