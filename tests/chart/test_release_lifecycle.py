"""Each ci/*-values.yaml through a release's life on each API server, installed once: the
server-side dry run, the install (no hooks), the objects read back, the upgrade, the uninstall."""

from __future__ import annotations

import copy
import json
import subprocess
from dataclasses import dataclass
from typing import Any

import pytest

from tests.chart.apiserver import (
    KEYS,
    MIGRATE,
    TEST_POD,
    Objects,
    added,
    chart_args,
    docs,
    helm_on,
    hook_objects,
    is_release_record,
    key,
    namespace_for,
    ok,
    prepare_namespace,
    release_objects,
)
from tests.chart.conftest import (
    KUBE_VERSIONS,
    OLDEST_SERVER_VALUE_SETS,
    RELEASE,
    VALUE_SETS,
    Manifest,
    render,
)
from tests.chart.kube import KubeServer

# The first use of a server may build it (minutes); the rest takes seconds.
pytestmark = [pytest.mark.chart, pytest.mark.timeout(1800)]

# API.md, "Routing": (match type, path, service), as the HTTPRoute and the Ingress write it.
PUBLIC_ROUTES = {
    ("PathPrefix", "/api/v1/auth", "auth"),
    ("Exact", "/.well-known/jwks.json", "auth"),
    ("Exact", "/.well-known/oauth-authorization-server", "auth"),
    ("PathPrefix", "/api/v1/users", "users"),
    ("PathPrefix", "/admin", "users"),  # the admin console (docs/console.md)
    ("PathPrefix", "/account", "users"),  # the account page (docs/account.md)
}
INGRESS_PATH_TYPES = {"Prefix": "PathPrefix", "Exact": "Exact"}
PORTS = {"auth": 8001, "users": 8002}
TESSERA_CONTAINERS = {"auth", "users", "migrate", "readiness-and-jwks"}

# The value sets with networkPolicy.enabled (the mail one adds egress to its SMTP relay).
NETWORK_POLICY_VALUE_SETS = {"monitoring-netpol-values.yaml", "mail-values.yaml"}


def pod_templates(objects: Objects) -> dict[str, Manifest]:
    """'Kind/name' -> {metadata, spec} of every pod the chart would run, with the volumes
    the StatefulSet controller adds for its volume claims."""
    templates = {}
    for (kind, name), obj in objects.items():
        if kind in {"Deployment", "StatefulSet", "Job"}:
            template = copy.deepcopy(obj["spec"]["template"])
            for claim in obj["spec"].get("volumeClaimTemplates", []):
                claim_name = f"{claim['metadata']['name']}-{name}-0"
                volume = {
                    "name": claim["metadata"]["name"],
                    "persistentVolumeClaim": {"claimName": claim_name},
                }
                template["spec"].setdefault("volumes", []).append(volume)
            templates[f"{kind}/{name}"] = template
        elif kind == "Pod":
            templates[f"Pod/{name}"] = {"metadata": obj["metadata"], "spec": obj["spec"]}
    return templates


def refusals(server: KubeServer, namespace: str, objects: list[Manifest]) -> dict[str, str]:
    """Each object created as a strict dry run (every admission and validation step,
    nothing stored): 'Kind/name' -> the server's message, for those it refuses."""
    refused = {}
    for obj in objects:
        response = server.create(obj, namespace, dry_run=True)
        if response.status_code != 201:
            refused[f"{obj['kind']}/{obj['metadata']['name']}"] = response.text
    return refused


def as_pods(templates: dict[str, Manifest]) -> list[Manifest]:
    return [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name.replace("/", "-").lower(),
                "labels": t["metadata"].get("labels", {}),
            },
            "spec": t["spec"],
        }
        for name, t in sorted(templates.items())
    ]


def release_records(server: KubeServer, namespace: str) -> list[str]:
    return [
        s["metadata"]["name"]
        for s in server.list_objects("v1", "Secret", namespace, f"owner=helm,name={RELEASE}")
    ]


@dataclass
class Lifecycle:
    value_set: str
    before: Objects
    dry_run: dict[str, Any]
    dry_run_refusals: dict[str, str]
    after_dry_run: Objects
    install: subprocess.CompletedProcess[str]
    release: dict[str, Any]
    installed: Objects
    pod_refusals: dict[str, str]
    upgrade: subprocess.CompletedProcess[str]
    upgraded_release: dict[str, Any]
    upgraded: Objects
    uninstall: subprocess.CompletedProcess[str]
    left: Objects
    records_left: list[str]

    def of_kind(self, kind: str) -> list[Manifest]:
        return [o for (k, _), o in sorted(self.installed.items()) if k == kind]


@pytest.fixture(scope="module", params=VALUE_SETS)
def lifecycle(request: pytest.FixtureRequest, kube_server: KubeServer, helm: str) -> Lifecycle:
    server, value_set = kube_server, request.param
    namespace = namespace_for(value_set)
    before = prepare_namespace(server, namespace, value_set)
    common = chart_args(namespace, value_set, "--output", "json")

    dry = ok(helm_on(server, helm, "install", *common, "--dry-run=server"))
    dry_run = json.loads(dry.stdout)
    after_dry_run = server.namespace_contents(namespace)
    rendered = [*release_objects(dry_run).values(), *hook_objects(dry_run).values()]
    dry_run_refusals = refusals(server, namespace, rendered)

    install = ok(helm_on(server, helm, "install", *common, "--no-hooks"))
    installed = added(server, namespace, before)
    # The pods the controllers would create, the hooks' included, once their service
    # accounts exist.
    pods = as_pods(pod_templates({**installed, **hook_objects(dry_run)}))
    pod_refusals = refusals(server, namespace, pods)

    change = ["--no-hooks", "--set", "config.logLevel=DEBUG"]
    upgrade = ok(helm_on(server, helm, "upgrade", *common, *change))
    upgraded = added(server, namespace, before)

    uninstall = ok(helm_on(server, helm, "uninstall", RELEASE, "--namespace", namespace, "--wait"))
    return Lifecycle(
        value_set=value_set,
        before=before,
        dry_run=dry_run,
        dry_run_refusals=dry_run_refusals,
        after_dry_run=after_dry_run,
        install=install,
        release=json.loads(install.stdout),
        installed=installed,
        pod_refusals=pod_refusals,
        upgrade=upgrade,
        upgraded_release=json.loads(upgrade.stdout),
        upgraded=upgraded,
        uninstall=uninstall,
        left=added(server, namespace, before),
        records_left=release_records(server, namespace),
    )


def keeps(obj: Manifest) -> bool:
    return obj["metadata"].get("annotations", {}).get("helm.sh/resource-policy") == "keep"


def test_the_oldest_server_meets_every_kind(helm: str) -> None:
    """The value sets installed on the oldest server render every kind any value set does."""
    oldest = KUBE_VERSIONS[0]
    every = {m["kind"] for v in VALUE_SETS for m in render(helm, v, oldest)}
    met = {m["kind"] for v in OLDEST_SERVER_VALUE_SETS for m in render(helm, v, oldest)}
    assert met == every, every - met


class TestDryRunOnTheServer:
    def test_dry_run_renders_the_hooks_and_stores_nothing(self, lifecycle: Lifecycle) -> None:
        events = {
            key(d): h["events"] for h in lifecycle.dry_run["hooks"] for d in docs(h["manifest"])
        }
        first = (
            "post-install"
            if lifecycle.value_set == "in-chart-databases-values.yaml"
            else "pre-install"
        )
        assert set(events[("Job", MIGRATE)]) == {first, "pre-upgrade"}
        assert events[("Pod", TEST_POD)] == ["test"]
        assert lifecycle.dry_run["info"]["status"] == "pending-install"
        assert lifecycle.after_dry_run == lifecycle.before

    def test_server_accepts_every_rendered_object(self, lifecycle: Lifecycle) -> None:
        """Hooks and the test pod included; strict field validation; the restricted Pod
        Security Standard enforced on the test Pod."""
        assert lifecycle.dry_run_refusals == {}
        assert len(release_objects(lifecycle.dry_run)) >= 8
        assert ("Pod", TEST_POD) in hook_objects(lifecycle.dry_run)


class TestInstall:
    def test_every_object_of_the_release_is_stored(self, lifecycle: Lifecycle) -> None:
        assert lifecycle.release["info"]["status"] == "deployed"
        manifest = set(release_objects(lifecycle.release))
        stored = {k for k in lifecycle.installed if not is_release_record(k)}
        assert stored == manifest
        for k in manifest:
            meta = lifecycle.installed[k]["metadata"]
            assert meta["annotations"]["meta.helm.sh/release-name"] == RELEASE, k
            assert meta["labels"]["app.kubernetes.io/instance"] == RELEASE, k

    def test_no_hook_ran(self, lifecycle: Lifecycle) -> None:
        assert ("Job", MIGRATE) not in lifecycle.installed
        assert ("Secret", MIGRATE) not in lifecycle.installed
        assert ("Pod", TEST_POD) not in lifecycle.installed

    def test_the_server_warned_of_nothing(self, lifecycle: Lifecycle) -> None:
        """helm prints the server's warnings: PodSecurity, deprecated APIs, unknown fields."""
        for result in (lifecycle.install, lifecycle.upgrade):
            assert "warning" not in result.stderr.lower(), result.stderr

    def test_every_pod_is_admitted_under_the_restricted_standard(
        self, lifecycle: Lifecycle
    ) -> None:
        names = set(pod_templates({**lifecycle.installed, **hook_objects(lifecycle.dry_run)}))
        assert {f"Deployment/{RELEASE}-auth", f"Job/{MIGRATE}", f"Pod/{TEST_POD}"} <= names
        assert lifecycle.pod_refusals == {}


class TestReadBack:
    def test_routes_reach_the_services_on_their_http_port(self, lifecycle: Lifecycle) -> None:
        services = {o["metadata"]["name"]: o for o in lifecycle.of_kind("Service")}
        routes, ingresses = lifecycle.of_kind("HTTPRoute"), lifecycle.of_kind("Ingress")
        found: set[tuple[str, str, str]] = set()
        if lifecycle.value_set == "ingress-values.yaml":
            assert routes == []
            (ingress,) = ingresses
            assert ingress["spec"]["ingressClassName"] == "nginx"
            for rule in ingress["spec"]["rules"]:
                for path in rule["http"]["paths"]:
                    backend = path["backend"]["service"]
                    ports = services[backend["name"]]["spec"]["ports"]
                    # By name: the Service's port that targets the pods' http port.
                    (port,) = [p for p in ports if p["name"] == backend["port"]["name"]]
                    assert port["targetPort"] == "http"
                    service = backend["name"].removeprefix(f"{RELEASE}-")
                    found.add((INGRESS_PATH_TYPES[path["pathType"]], path["path"], service))
        else:
            assert ingresses == []
            (route,) = routes
            for rule in route["spec"]["rules"]:
                (backend,) = rule["backendRefs"]
                # Defaulted by the upstream CRD on the server.
                assert (backend["group"], backend["kind"], backend["weight"]) == ("", "Service", 1)
                (port,) = [
                    p
                    for p in services[backend["name"]]["spec"]["ports"]
                    if p["port"] == backend["port"]
                ]
                assert port["targetPort"] == "http"
                service = backend["name"].removeprefix(f"{RELEASE}-")
                for match in rule["matches"]:
                    found.add((match["path"]["type"], match["path"]["value"], service))
        assert found == PUBLIC_ROUTES

    def test_services_select_the_pods_that_serve_http(self, lifecycle: Lifecycle) -> None:
        for component, port in PORTS.items():
            service = lifecycle.installed[("Service", f"{RELEASE}-{component}")]
            template = lifecycle.installed[("Deployment", f"{RELEASE}-{component}")]["spec"][
                "template"
            ]
            assert service["spec"]["selector"].items() <= template["metadata"]["labels"].items()
            (container,) = template["spec"]["containers"]
            assert {"name": "http", "containerPort": port, "protocol": "TCP"} in container["ports"]

    def test_probes_hit_health_and_readiness_on_the_http_port(self, lifecycle: Lifecycle) -> None:
        deployments = lifecycle.of_kind("Deployment")
        assert len(deployments) == 2
        for deployment in deployments:
            (container,) = deployment["spec"]["template"]["spec"]["containers"]
            for probe, path in [
                ("startupProbe", "/healthz"),
                ("livenessProbe", "/healthz"),
                ("readinessProbe", "/readyz"),
            ]:
                get = container[probe]["httpGet"]
                # scheme is the server's default: this is the stored object.
                assert (get["path"], get["port"], get["scheme"]) == (path, "http", "HTTP")

    def test_security_contexts(self, lifecycle: Lifecycle) -> None:
        templates = pod_templates(lifecycle.installed)
        assert len(templates) >= 2
        for name, template in templates.items():
            spec = template["spec"]
            assert spec["securityContext"]["runAsNonRoot"] is True, name
            assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
            for container in spec["containers"] + spec.get("initContainers", []):
                context = container["securityContext"]
                assert context["allowPrivilegeEscalation"] is False, name
                assert context["capabilities"]["drop"] == ["ALL"], name
                if container["name"] in TESSERA_CONTAINERS:
                    assert context["readOnlyRootFilesystem"] is True, name
                    assert context["runAsUser"] == 10001, name

    def test_network_policies_select_the_release_pods(self, lifecycle: Lifecycle) -> None:
        policies = lifecycle.of_kind("NetworkPolicy")
        if lifecycle.value_set not in NETWORK_POLICY_VALUE_SETS:
            assert policies == []
            return
        pods = pod_templates({**lifecycle.installed, **hook_objects(lifecycle.dry_run)})

        def selected(selector: dict[str, Any]) -> set[str]:
            wanted = selector.get("matchLabels", {}).items()
            return {n for n, t in pods.items() if wanted <= t["metadata"].get("labels", {}).items()}

        covered: set[str] = set()
        for policy in policies:
            name, spec = policy["metadata"]["name"], policy["spec"]
            targets = selected(spec["podSelector"])
            assert targets, name
            covered |= targets
            assert spec["policyTypes"] == ["Ingress", "Egress"], name
            peers = [p for rule in spec.get("ingress", []) for p in rule["from"]]
            peers += [p for rule in spec.get("egress", []) for p in rule.get("to", [])]
            for peer in peers:
                if set(peer) == {"podSelector"}:  # a pod of this namespace: of this release
                    assert selected(peer["podSelector"]), (name, peer)
            for rule in spec.get("ingress", []):
                for port in rule["ports"]:
                    for target in targets:
                        containers = pods[target]["spec"]["containers"]
                        names = {p.get("name") for c in containers for p in c.get("ports", [])}
                        assert port["port"] in names, (name, target)
        tessera_pods = {
            n
            for n, t in pods.items()
            if {c["name"] for c in t["spec"]["containers"]} & TESSERA_CONTAINERS
        }
        assert tessera_pods <= covered

    def test_service_monitor_scrapes_both_services(self, lifecycle: Lifecycle) -> None:
        monitors = lifecycle.of_kind("ServiceMonitor")
        if lifecycle.value_set != "monitoring-netpol-values.yaml":
            assert monitors == []
            return
        scraped = set()
        for monitor in monitors:
            assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
            wanted = monitor["spec"]["selector"]["matchLabels"].items()
            for service in lifecycle.of_kind("Service"):
                if wanted <= service["metadata"]["labels"].items():
                    ports = {p["name"] for p in service["spec"]["ports"]}
                    assert {e["port"] for e in monitor["spec"]["endpoints"]} <= ports
                    assert {e["path"] for e in monitor["spec"]["endpoints"]} == {"/metrics"}
                    scraped.add(service["metadata"]["name"])
        assert scraped == {f"{RELEASE}-auth", f"{RELEASE}-users"}


class TestUpgrade:
    def test_a_setting_change_rolls_both_deployments(self, lifecycle: Lifecycle) -> None:
        assert lifecycle.upgraded_release["version"] == 2
        assert lifecycle.upgraded_release["info"]["status"] == "deployed"
        assert lifecycle.upgraded[("ConfigMap", RELEASE)]["data"]["TESSERA_LOG_LEVEL"] == "DEBUG"
        for component in PORTS:
            k = ("Deployment", f"{RELEASE}-{component}")
            old, new = lifecycle.installed[k], lifecycle.upgraded[k]
            old_ann = old["spec"]["template"]["metadata"]["annotations"]
            new_ann = new["spec"]["template"]["metadata"]["annotations"]
            assert new_ann["checksum/config"] != old_ann["checksum/config"]
            # The pod template changed: the server counts a new generation.
            assert new["metadata"]["generation"] == old["metadata"]["generation"] + 1
            # Generated secrets are read back from the cluster, not made anew.
            assert new_ann.get("checksum/secret") == old_ann.get("checksum/secret")

    def test_nothing_else_changes(self, lifecycle: Lifecycle) -> None:
        installed = {k for k in lifecycle.installed if not is_release_record(k)}
        upgraded = {k for k in lifecycle.upgraded if not is_release_record(k)}
        assert upgraded == installed
        records = sorted(k[1] for k in lifecycle.upgraded if is_release_record(k))
        assert records == [f"sh.helm.release.v1.{RELEASE}.v1", f"sh.helm.release.v1.{RELEASE}.v2"]
        for k in installed - {
            ("Deployment", f"{RELEASE}-auth"),
            ("Deployment", f"{RELEASE}-users"),
            ("ConfigMap", RELEASE),
        }:
            old, new = lifecycle.installed[k], lifecycle.upgraded[k]
            assert new.get("spec") == old.get("spec"), k
            assert new.get("data") == old.get("data"), k
            assert new["metadata"]["resourceVersion"] == old["metadata"]["resourceVersion"], k


class TestUninstall:
    def test_nothing_of_the_release_is_left_but_the_kept_keys(self, lifecycle: Lifecycle) -> None:
        assert "uninstalled" in lifecycle.uninstall.stdout
        assert lifecycle.records_left == []
        kept = {k for k, o in lifecycle.installed.items() if keeps(o)}
        assert set(lifecycle.left) == kept
        if lifecycle.value_set == "existing-secret-values.yaml":
            assert kept == set()
        else:
            assert kept == {("Secret", KEYS)}
            assert "kept due to the resource policy" in lifecycle.uninstall.stdout
