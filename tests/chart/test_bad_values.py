"""Values a real API server shows to be wrong: helm fails before anything is applied."""

from __future__ import annotations

import copy
import json
import subprocess

import pytest

from tests.chart.apiserver import (
    PREREQUISITES,
    RESTRICTED,
    Key,
    Objects,
    chart_args,
    docs,
    helm_on,
    key,
    namespace_for,
    ok,
    prepare_namespace,
)
from tests.chart.conftest import RELEASE
from tests.chart.kube import KubeServer

# The first use of a server may build it (minutes); the rest takes seconds.
pytestmark = [pytest.mark.chart, pytest.mark.timeout(1800)]


def versions(objects: Objects) -> dict[Key, str]:
    return {k: o["metadata"]["resourceVersion"] for k, o in objects.items()}


def refused(
    server: KubeServer,
    namespace: str,
    result: subprocess.CompletedProcess[str],
    before: Objects,
    message: str,
) -> None:
    """helm failed, saying this, and nothing in the namespace changed (no release record
    either)."""
    assert result.returncode != 0, result.stdout
    assert message in result.stderr
    assert versions(server.namespace_contents(namespace)) == versions(before)


def installed_for_upgrade(server: KubeServer, helm: str, value_set: str) -> tuple[str, Objects]:
    """The value set installed (no hooks) in a namespace of its own; what it holds then."""
    namespace = namespace_for(value_set, "-immutable")
    prepare_namespace(server, namespace, value_set)
    ok(helm_on(server, helm, "install", *chart_args(namespace, value_set, "--no-hooks")))
    return namespace, server.namespace_contents(namespace)


class TestBadValues:
    def test_a_missing_existing_secret_fails_before_anything_is_applied(
        self, kube_server: KubeServer, helm: str
    ) -> None:
        server, value_set = kube_server, "existing-secret-values.yaml"
        namespace = namespace_for(value_set, "-missing")
        server.create_namespace(namespace, RESTRICTED)
        secret, keys, account = copy.deepcopy(PREREQUISITES[value_set])
        server.create(account, namespace).raise_for_status()
        install = chart_args(namespace, value_set, "--no-hooks")

        def install_refused(message: str) -> None:
            before = server.namespace_contents(namespace)
            refused(server, namespace, helm_on(server, helm, "install", *install), before, message)

        def delete_secret(name: str) -> None:
            server.client.delete(server.path("v1", "Secret", namespace, name)).raise_for_status()

        install_refused(
            f'secrets.existingSecret: Secret "tessera-prod" does not exist in namespace "{namespace}": create it first'
            " (keys DATABASE_URL, REDIS_URL, CURSOR_SECRET, FACTOR_KEY)"
        )
        # There, but without a key the pods read: the users pods' cursor secret...
        del secret["stringData"]["CURSOR_SECRET"]
        server.create(secret, namespace).raise_for_status()
        install_refused(
            f'secrets.existingSecret: Secret "tessera-prod" in namespace "{namespace}" has no key "CURSOR_SECRET"'
        )
        delete_secret("tessera-prod")
        # ... or the auth pods' second-factor key.
        secret = copy.deepcopy(PREREQUISITES[value_set][0])
        del secret["stringData"]["FACTOR_KEY"]
        server.create(secret, namespace).raise_for_status()
        install_refused(
            f'secrets.existingSecret: Secret "tessera-prod" in namespace "{namespace}" has no key "FACTOR_KEY"'
        )
        delete_secret("tessera-prod")
        server.create(PREREQUISITES[value_set][0], namespace).raise_for_status()
        install_refused(
            'signingKeys.existingSecret: Secret "tessera-prod-signing-keys" does not exist'
        )
        # The keys Secret without the pinned active key.
        keys["stringData"] = {"20260101T000000-rs256-d4e5f6.pem": "(a PEM key)"}
        server.create(keys, namespace).raise_for_status()
        install_refused(
            'signingKeys.activeKid=20250101T000000-rs256-a1b2c3: Secret "tessera-prod-signing-keys" has no 20250101T000000-rs256-a1b2c3.pem'
        )

        # All there: the same command installs.
        delete_secret("tessera-prod-signing-keys")
        server.create(PREREQUISITES[value_set][1], namespace).raise_for_status()
        ok(helm_on(server, helm, "install", *install))
        ok(helm_on(server, helm, "uninstall", RELEASE, "--namespace", namespace, "--wait"))

    def test_a_changed_selector_fails_before_anything_is_applied(
        self, kube_server: KubeServer, helm: str
    ) -> None:
        """nameOverride changes the selector labels, which the server refuses to change on a
        Deployment. Left to the server, helm would update every other object first (the
        Services would select labels no pod has) and then fail on the Deployments."""
        server, value_set = kube_server, "default-values.yaml"
        namespace, before = installed_for_upgrade(server, helm, value_set)
        renamed = chart_args(
            namespace,
            value_set,
            "--set",
            f"fullnameOverride={RELEASE}",
            "--set",
            "nameOverride=identity",
        )
        result = helm_on(server, helm, "upgrade", *renamed, "--no-hooks")
        refused(
            server, namespace, result, before, f"Deployment {RELEASE}-auth exists with selector"
        )
        assert "a selector is immutable" in result.stderr
        history = ok(
            helm_on(server, helm, "history", RELEASE, "--namespace", namespace, "--output", "json")
        )
        assert [(h["revision"], h["status"]) for h in json.loads(history.stdout)] == [
            (1, "deployed")
        ]

        # What the check spares: the server refuses the Deployment these values render.
        template = helm_on(server, helm, "template", *renamed, "--kube-version", server.version)
        deployment = next(
            d for d in docs(ok(template).stdout) if key(d) == ("Deployment", f"{RELEASE}-auth")
        )
        deployment["metadata"]["resourceVersion"] = versions(before)[key(deployment)]
        path = server.path("apps/v1", "Deployment", namespace, f"{RELEASE}-auth")
        response = server.client.put(path, json=deployment)
        assert response.status_code == 422, response.text
        assert "field is immutable" in response.json()["message"]
        ok(helm_on(server, helm, "uninstall", RELEASE, "--namespace", namespace, "--wait"))

    def test_a_changed_volume_size_fails_before_anything_is_applied(
        self, kube_server: KubeServer, helm: str
    ) -> None:
        server, value_set = kube_server, "in-chart-databases-values.yaml"
        namespace, before = installed_for_upgrade(server, helm, value_set)
        resized = chart_args(
            namespace, value_set, "--no-hooks", "--set", "postgresql.persistence.size=2Gi"
        )
        result = helm_on(server, helm, "upgrade", *resized)
        message = f"postgresql.persistence.size: StatefulSet {RELEASE}-postgresql has volume claims of 1Gi"
        refused(server, namespace, result, before, message)
        ok(helm_on(server, helm, "uninstall", RELEASE, "--namespace", namespace, "--wait"))
