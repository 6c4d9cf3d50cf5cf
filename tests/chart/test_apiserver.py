"""The chart on a real Kubernetes API server (kine + kube-apiserver on loopback, see
kube.py) of the oldest and the newest Kubernetes minor the chart supports, with the upstream
Gateway API and prometheus-operator CRDs installed.

For every ci/*-values.yaml: ``helm install --dry-run=server`` with the hooks (and every
rendered object, hooks and test pod included, sent to the server as a strict dry-run),
``helm install --no-hooks`` (no kubelet runs the migration Job), the objects read back,
``helm upgrade`` with a changed setting, ``helm uninstall``. Then the hooks themselves, with
the test standing in for the Job controller and the kubelet; then values the server shows
to be wrong.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import yaml

from tests.chart.conftest import (
    CHART,
    KUBE_SERVERS,
    KUBE_VERSIONS,
    RELEASE,
    VALUE_SETS,
    Manifest,
    run_helm,
)
from tests.chart.kube import (
    GATEWAY_API,
    INSTALL_SCRIPT,
    KINE_VERSION,
    PROMETHEUS_OPERATOR,
    KubeServer,
)

# The first use of a server may build it (minutes); the rest takes seconds.
pytestmark = [pytest.mark.chart, pytest.mark.timeout(1800)]

RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
}
# API.md, "Routing": (match type, path, service), as the HTTPRoute and the Ingress write it.
PUBLIC_ROUTES = {
    ("PathPrefix", "/api/v1/auth", "auth"),
    ("Exact", "/.well-known/jwks.json", "auth"),
    ("Exact", "/.well-known/oauth-authorization-server", "auth"),
    ("PathPrefix", "/api/v1/users", "users"),
    ("PathPrefix", "/admin", "users"),  # the admin console (docs/console.md)
}
INGRESS_PATH_TYPES = {"Prefix": "PathPrefix", "Exact": "Exact"}
PORTS = {"auth": 8001, "users": 8002}
TESSERA_CONTAINERS = {"auth", "users", "migrate", "readiness-and-jwks"}
MIGRATE, TEST_POD, KEYS = f"{RELEASE}-migrate", f"{RELEASE}-test", f"{RELEASE}-signing-keys"
# What a value set says exists outside the chart: created before the install.
PREREQUISITES: dict[str, list[Manifest]] = {
    "existing-secret-values.yaml": [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "tessera-prod"},
            "stringData": {
                "DATABASE_URL": "postgresql://tessera:pw@db.example.internal:5432/tessera",
                "REDIS_URL": "redis://:pw@redis.example.internal:6379/0",
                "CURSOR_SECRET": "c" * 48,
                "ADMIN_PASSWORD": "an-admin-password",
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "tessera-prod-signing-keys"},
            "stringData": {"20250101T000000-rs256-a1b2c3.pem": "(a PEM key)"},
        },
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "tessera"}},
    ]
}

Key = tuple[str, str]  # (kind, name)
Objects = dict[Key, Manifest]


def helm_on(
    server: KubeServer, helm: str, *args: str, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return run_helm(helm, *args, env=server.helm_env(), timeout=timeout)


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"helm failed:\n{result.stdout}\n{result.stderr}"
    return result


# The value sets with networkPolicy.enabled (the mail one adds egress to its SMTP relay).
NETWORK_POLICY_VALUE_SETS = {"monitoring-netpol-values.yaml", "mail-values.yaml"}


def chart_args(namespace: str, value_set: str, *extra: str) -> list[str]:
    return [
        RELEASE,
        str(CHART),
        "--namespace",
        namespace,
        "--values",
        str(CHART / "ci" / value_set),
        *extra,
    ]


def docs(text: str) -> list[Manifest]:
    return [d for d in yaml.safe_load_all(text) if d]


def key(obj: Manifest) -> Key:
    return (obj["kind"], obj["metadata"]["name"])


def release_objects(release: dict[str, Any]) -> Objects:
    """What a release (helm's JSON output) renders, hooks aside."""
    return {key(d): d for d in docs(release["manifest"])}


def hook_objects(release: dict[str, Any]) -> Objects:
    return {key(d): d for h in release["hooks"] for d in docs(h["manifest"])}


def is_release_record(k: Key) -> bool:
    return k[0] == "Secret" and k[1].startswith(f"sh.helm.release.v1.{RELEASE}.")


def namespace_for(value_set: str, suffix: str = "") -> str:
    return "vs-" + value_set.removesuffix("-values.yaml") + suffix


def prepare_namespace(server: KubeServer, namespace: str, value_set: str) -> Objects:
    """A namespace that enforces the restricted Pod Security Standard, with what the value
    set expects to exist already; answers what it holds then."""
    server.create_namespace(namespace, RESTRICTED)
    for obj in PREREQUISITES.get(value_set, []):
        response = server.create(obj, namespace)
        assert response.status_code == 201, response.text
    return server.namespace_contents(namespace)


def added(server: KubeServer, namespace: str, before: Objects) -> Objects:
    """What the namespace holds that it did not before, the release records included."""
    return {k: v for k, v in server.namespace_contents(namespace).items() if k not in before}


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


# --- the servers ------------------------------------------------------------------------


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


# --- every value set: dry run, install, read back, upgrade, uninstall -----------------------


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


# --- the hooks, with the test as the Job controller and the kubelet ------------------------


class Controller:
    """Stands in for the Job controller and the kubelet in one namespace: completes (or,
    with ``fail_jobs``, fails) every Job, and runs every Pod to success. Uses its own
    connection, from its own thread."""

    def __init__(self, server: KubeServer, namespace: str) -> None:
        self.fail_jobs = False
        self.completed: list[str] = []  # Job names, one entry per Job object
        self.failed: list[str] = []
        self.pods: list[str] = []
        self.errors: list[str] = []
        self._jobs = server.path("batch/v1", "Job", namespace)
        self._pods = server.path("v1", "Pod", namespace)
        self._client = server.new_client()
        self._done: set[str] = set()  # uids
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Controller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._client.close()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            try:
                self._step()
            except httpx.HTTPError as exc:
                self.errors.append(repr(exc))

    def _patch_status(self, path: str, status: Manifest) -> bool:
        response = self._client.patch(
            f"{path}/status",
            json={"status": status},
            headers={"Content-Type": "application/merge-patch+json"},
        )
        if response.status_code != 200:
            self.errors.append(response.text)
        return response.status_code == 200

    def _step(self) -> None:
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        for job in self._client.get(self._jobs).raise_for_status().json()["items"]:
            name, uid = job["metadata"]["name"], job["metadata"]["uid"]
            if uid in self._done:
                continue
            fail = self.fail_jobs
            # The Job API wants the interim condition (FailureTarget, SuccessCriteriaMet)
            # before the final one; older servers accept them as well.
            interim, final = (
                ("FailureTarget", "Failed") if fail else ("SuccessCriteriaMet", "Complete")
            )
            reason = "BackoffLimitExceeded" if fail else "CompletionsReached"
            conditions = [
                {
                    "type": t,
                    "status": "True",
                    "reason": reason,
                    "message": "set by the test",
                    "lastTransitionTime": now,
                }
                for t in (interim, final)
            ]
            status: Manifest = {"startTime": now, "conditions": conditions}
            status.update({"failed": 1} if fail else {"succeeded": 1, "completionTime": now})
            if self._patch_status(f"{self._jobs}/{name}", status):
                self._done.add(uid)
                (self.failed if fail else self.completed).append(name)
        for pod in self._client.get(self._pods).raise_for_status().json()["items"]:
            name, uid = pod["metadata"]["name"], pod["metadata"]["uid"]
            if uid not in self._done and self._patch_status(
                f"{self._pods}/{name}", {"phase": "Succeeded"}
            ):
                self._done.add(uid)
                self.pods.append(name)


class TestHooks:
    @pytest.mark.parametrize("value_set", VALUE_SETS)
    def test_hooks_run_and_are_deleted_per_their_policies(
        self, kube_server: KubeServer, helm: str, value_set: str
    ) -> None:
        server = kube_server
        namespace = namespace_for(value_set, "-hooks")
        before = prepare_namespace(server, namespace, value_set)
        common = chart_args(namespace, value_set, "--timeout", "60s")
        with Controller(server, namespace) as controller:
            install = ok(helm_on(server, helm, "install", *common, "--output", "json"))
            release = json.loads(install.stdout)
            hooks = {h["name"]: h for h in release["hooks"]}
            assert hooks[MIGRATE]["last_run"]["phase"] == "Succeeded"
            assert controller.completed == [MIGRATE], controller.errors
            # hook-succeeded: the Job and its copy of the database URL are gone.
            live = added(server, namespace, before)
            assert ("Job", MIGRATE) not in live
            assert ("Secret", MIGRATE) not in live
            assert set(release_objects(release)) <= set(live)

            ok(helm_on(server, helm, "upgrade", *common, "--set", "config.logLevel=DEBUG"))
            assert controller.completed == [MIGRATE, MIGRATE]  # pre-upgrade: migrated again
            ok(helm_on(server, helm, "test", RELEASE, "--namespace", namespace, "--timeout", "60s"))
            assert controller.pods == [TEST_POD], controller.errors
            live = added(server, namespace, before)
            assert not {("Job", MIGRATE), ("Secret", MIGRATE), ("Pod", TEST_POD)} & set(live)

        ok(helm_on(server, helm, "uninstall", RELEASE, "--namespace", namespace, "--wait"))
        left = set(added(server, namespace, before))
        assert left == (set() if value_set == "existing-secret-values.yaml" else {("Secret", KEYS)})

    def test_a_failed_migration_changes_nothing_and_stays_for_its_logs(
        self, kube_server: KubeServer, helm: str
    ) -> None:
        """docs/helm.md: if the migration fails, the install or upgrade fails and nothing else
        changes; the failed Job stays for `kubectl logs`; the next attempt replaces it."""
        server, value_set = kube_server, "default-values.yaml"
        namespace = namespace_for(value_set, "-failed-migration")
        before = prepare_namespace(server, namespace, value_set)
        common = chart_args(namespace, value_set, "--timeout", "60s")
        with Controller(server, namespace) as controller:
            controller.fail_jobs = True
            failed = helm_on(server, helm, "install", *common)
            assert failed.returncode != 0
            assert f"job {MIGRATE} failed: BackoffLimitExceeded" in failed.stderr
            # pre-install: none of the release's own objects was created. The failed Job
            # stays; helm deletes the hooks that succeeded before it (hook-succeeded), the
            # copy of the database URL among them.
            live = {k for k in added(server, namespace, before) if not is_release_record(k)}
            assert live == {("Job", MIGRATE)}

            # The next attempt (an upgrade of the failed release) replaces the failed Job.
            controller.fail_jobs = False
            ok(helm_on(server, helm, "upgrade", "--install", *common))
            assert controller.failed == [MIGRATE]
            assert controller.completed == [MIGRATE]
            deployment = server.get("apps/v1", "Deployment", f"{RELEASE}-auth", namespace)

            # A failed pre-upgrade migration leaves the running release as it was.
            controller.fail_jobs = True
            failed = helm_on(server, helm, "upgrade", *common, "--set", "config.logLevel=DEBUG")
            assert failed.returncode != 0
            assert f"job {MIGRATE} failed: BackoffLimitExceeded" in failed.stderr
            config = server.get("v1", "ConfigMap", RELEASE, namespace)
            assert config["data"]["TESSERA_LOG_LEVEL"] == "INFO"
            after = server.get("apps/v1", "Deployment", f"{RELEASE}-auth", namespace)
            assert after["metadata"]["resourceVersion"] == deployment["metadata"]["resourceVersion"]
        ok(helm_on(server, helm, "uninstall", RELEASE, "--namespace", namespace, "--wait"))


# --- values the server shows to be wrong -----------------------------------------------


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
        )
        # There, but without a key the pods read.
        del secret["stringData"]["CURSOR_SECRET"]
        server.create(secret, namespace).raise_for_status()
        install_refused(
            f'secrets.existingSecret: Secret "tessera-prod" in namespace "{namespace}" has no key "CURSOR_SECRET"'
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
