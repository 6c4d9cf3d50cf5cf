"""The rendered chart agrees with the apps: probe paths and ports, the public routes of
API.md, settings names, where the private keys go, security contexts and the migration hook."""

from __future__ import annotations

import asyncio
import re
import shlex
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI

from tessera_core.cli import CLI_ENVIRONMENT
from tessera_core.settings import Settings
from tessera_devstack.gateway import gateway_routes
from tests.chart.conftest import (
    ROOT,
    VALUE_SETS,
    Manifest,
    all_env,
    container_env,
    container_of,
    deployment_of,
    named,
    of_kind,
    pod_spec,
    render,
)

pytestmark = pytest.mark.chart

PORTS = {"auth": 8001, "users": 8002}
PROBE_PATHS = {"/healthz", "/readyz", "/metrics"}
# API.md, "Routing": what goes through the gateway, and how each path matches.
PUBLIC_ROUTES = {
    ("prefix", "/api/v1/auth", "auth"),
    ("exact", "/.well-known/jwks.json", "auth"),
    ("exact", "/.well-known/oauth-authorization-server", "auth"),
    ("prefix", "/api/v1/users", "users"),
    # Not in API.md: the admin console's page and files (docs/console.md).
    ("prefix", "/admin", "users"),
}
REQUIRED = {
    "auth": {"ENV", "DATABASE_URL", "REDIS_URL", "KEYS_DIR", "ISSUER", "AUDIENCE"},
    "users": {
        "ENV",
        "DATABASE_URL",
        "REDIS_URL",
        "JWKS_URL",
        "ISSUER",
        "AUDIENCE",
        "CURSOR_SECRET",
    },
}


# --- the apps' own routes -------------------------------------------------------------


def _public_paths(app: FastAPI) -> set[str]:
    """The paths an app documents (OpenAPI) plus its docs pages."""
    paths = set(app.openapi()["paths"])
    return paths | {p for p in (app.docs_url, app.openapi_url) if p}


def _probe_statuses(app: FastAPI) -> dict[str, int]:
    """What the probe paths answer without the lifespan (nothing connected): /healthz and
    /metrics need nothing; /readyz exists (its checks fail without dependencies)."""
    return {path: _status(app, path) for path in sorted(PROBE_PATHS)}


def _status(app: FastAPI, path: str) -> int:
    async def get() -> int:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            return (await client.get(path)).status_code

    return asyncio.run(get())


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory) -> dict[str, FastAPI]:
    """Both apps, built in dev mode; building one connects to nothing."""
    from tessera_auth.app import create_app as create_auth
    from tessera_users.app import create_app as create_users

    keys = tmp_path_factory.mktemp("chart-keys")
    users_settings = Settings(env="dev", jwks_url="http://auth:8001/.well-known/jwks.json")
    return {
        "auth": create_auth(Settings(env="dev", keys_dir=keys)),
        "users": create_users(users_settings),
    }


@pytest.fixture(scope="module")
def app_paths(apps: dict[str, FastAPI]) -> dict[str, set[str]]:
    return {name: _public_paths(app) for name, app in apps.items()}


def _covered(path: str, routes: set[tuple[str, str, str]]) -> str | None:
    """The component a public route sends ``path`` to, or None."""
    for kind, value, component in routes:
        if path == value or (kind == "prefix" and path.startswith(value.rstrip("/") + "/")):
            return component
    return None


def _workloads(manifests: list[Manifest]) -> list[Manifest]:
    kinds = {"Deployment", "StatefulSet", "Job", "Pod"}
    return [m for m in manifests if m["kind"] in kinds]


# --- probes and ports -----------------------------------------------------------------


class TestProbes:
    @pytest.mark.parametrize("component", ["auth", "users"])
    def test_apps_serve_the_probe_paths(self, apps: dict[str, FastAPI], component: str) -> None:
        if component not in apps:
            pytest.skip("tessera_users.app is not written yet")
        statuses = _probe_statuses(apps[component])
        assert statuses["/healthz"] == 200
        assert statuses["/metrics"] == 200
        assert statuses["/readyz"] != 404
        assert _status(apps[component], "/no-such-path") == 404

    @pytest.mark.parametrize("value_set", VALUE_SETS)
    @pytest.mark.parametrize("component", ["auth", "users"])
    def test_probes_hit_the_real_paths_and_port(
        self, helm: str, value_set: str, component: str
    ) -> None:
        manifests = render(helm, value_set)
        container = container_of(manifests, component)
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports == {"http": PORTS[component]}
        assert container_env(container)["TESSERA_PORT"] == str(PORTS[component])
        assert container["command"] + container["args"] == ["tessera", "serve", component]
        probes = {
            kind: container[f"{kind}Probe"]["httpGet"]
            for kind in ("startup", "liveness", "readiness")
        }
        assert probes["startup"]["path"] == "/healthz"
        assert probes["liveness"]["path"] == "/healthz"
        assert probes["readiness"]["path"] == "/readyz"
        for probe in probes.values():
            assert ports[probe["port"]] == PORTS[component]
        service = named(manifests, "Service", f"-{component}")
        assert service["spec"]["ports"] == [
            {"name": "http", "port": PORTS[component], "targetPort": "http", "protocol": "TCP"}
        ]
        labels = deployment_of(manifests, component)["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= labels.items()


# --- public routes --------------------------------------------------------------------


def _httproute_routes(manifests: list[Manifest]) -> set[tuple[str, str, str]]:
    routes = set()
    (route,) = of_kind(manifests, "HTTPRoute")
    for rule in route["spec"]["rules"]:
        (backend,) = rule["backendRefs"]
        component = backend["name"].rsplit("-", 1)[1]
        assert backend["port"] == PORTS[component]
        for match in rule["matches"]:
            kind = {"PathPrefix": "prefix", "Exact": "exact"}[match["path"]["type"]]
            routes.add((kind, match["path"]["value"], component))
    return routes


def _ingress_routes(manifests: list[Manifest]) -> set[tuple[str, str, str]]:
    routes = set()
    (ingress,) = of_kind(manifests, "Ingress")
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            kind = {"Prefix": "prefix", "Exact": "exact"}[path["pathType"]]
            service = path["backend"]["service"]
            assert service["port"] == {"name": "http"}
            routes.add((kind, path["path"], service["name"].rsplit("-", 1)[1]))
    return routes


class TestRoutes:
    def test_httproute_routes_exactly_the_public_prefixes(self, helm: str) -> None:
        assert _httproute_routes(render(helm, "default-values.yaml")) == PUBLIC_ROUTES

    def test_ingress_routes_exactly_the_public_prefixes(self, helm: str) -> None:
        manifests = render(helm, "ingress-values.yaml")
        assert of_kind(manifests, "HTTPRoute") == []
        assert _ingress_routes(manifests) == PUBLIC_ROUTES

    @pytest.mark.parametrize("value_set", VALUE_SETS)
    def test_probes_and_metrics_never_routed(self, helm: str, value_set: str) -> None:
        manifests = render(helm, value_set)
        routes: set[tuple[str, str, str]] = set()
        if of_kind(manifests, "HTTPRoute"):
            routes |= _httproute_routes(manifests)
        if of_kind(manifests, "Ingress"):
            routes |= _ingress_routes(manifests)
        assert routes, "no way in"
        for path in PROBE_PATHS:
            assert _covered(path, routes) is None

    @pytest.mark.parametrize("component", ["auth", "users"])
    def test_every_app_route_reaches_its_service(
        self, app_paths: dict[str, set[str]], component: str
    ) -> None:
        if component not in app_paths:
            pytest.skip("tessera_users.app is not written yet")
        for path in app_paths[component] - PROBE_PATHS:
            assert _covered(path, PUBLIC_ROUTES) == component, path

    def test_the_gateway_template_routes_nothing_the_chart_does_not(self) -> None:
        """compose and `make dev` route with the nginx template, the chart with its own
        list: a location in one must reach the same service in the other."""
        template = (ROOT / "deploy" / "gateway" / "default.conf.template").read_text()
        locations = gateway_routes(template)
        assert len(locations) >= 6, locations
        for _exact, path, service in locations:
            assert _covered(path, PUBLIC_ROUTES) == service, path

    def test_the_admin_console_reaches_the_users_service(self) -> None:
        for path in ("/admin", "/admin/", "/admin/app.js", "/admin/views/user.js"):
            assert _covered(path, PUBLIC_ROUTES) == "users", path
        assert _covered("/administrator", PUBLIC_ROUTES) is None

    def test_apps_document_their_public_routes(self, app_paths: dict[str, set[str]]) -> None:
        assert "/.well-known/jwks.json" in app_paths["auth"]
        assert "/.well-known/oauth-authorization-server" in app_paths["auth"]
        assert any(p.startswith("/api/v1/auth/") for p in app_paths["auth"])
        if "users" in app_paths:
            assert "/api/v1/users" in app_paths["users"]


# --- settings -------------------------------------------------------------------------


class TestSettings:
    @pytest.mark.parametrize("value_set", VALUE_SETS)
    @pytest.mark.parametrize("component", ["auth", "users"])
    def test_every_variable_is_a_setting(self, helm: str, value_set: str, component: str) -> None:
        manifests = render(helm, value_set)
        fields = {name.upper() for name in Settings.model_fields}
        env = all_env(manifests, container_of(manifests, component))
        unknown = []
        for name in env:
            if not name.startswith("TESSERA_") or name in CLI_ENVIRONMENT:
                continue
            field = name.removeprefix("TESSERA_").removesuffix("_FILE")
            if field not in fields:
                unknown.append(name)
        assert unknown == []

    @pytest.mark.parametrize("value_set", VALUE_SETS)
    @pytest.mark.parametrize("component", ["auth", "users"])
    def test_required_settings_are_set(self, helm: str, value_set: str, component: str) -> None:
        manifests = render(helm, value_set)
        env = all_env(manifests, container_of(manifests, component))
        given = {n.removeprefix("TESSERA_").removesuffix("_FILE") for n in env}
        required = {r for r in REQUIRED[component] if r.lower() in Settings.model_fields}
        assert required <= given
        assert env["TESSERA_ENV"] == "production"

    def test_jwks_url_is_the_auth_service(self, helm: str) -> None:
        manifests = render(helm, "default-values.yaml")
        env = container_env(container_of(manifests, "users"))
        service = named(manifests, "Service", "-auth")["metadata"]["name"]
        assert env["TESSERA_JWKS_URL"] == (
            f"http://{service}.identity.svc:8001/.well-known/jwks.json"
        )

    @pytest.mark.parametrize("value_set", VALUE_SETS)
    @pytest.mark.parametrize("component", ["auth", "users"])
    def test_secret_files_are_mounted(self, helm: str, value_set: str, component: str) -> None:
        """Every TESSERA_*_FILE points at a file some mounted Secret provides."""
        manifests = render(helm, value_set)
        spec = pod_spec(deployment_of(manifests, component))
        container = container_of(manifests, component)
        volumes = {v["name"]: v for v in spec["volumes"]}
        files: set[str] = set()
        for mount in container["volumeMounts"]:
            secret = volumes[mount["name"]].get("secret")
            if secret:
                for item in secret.get("items", []):
                    files.add(f"{mount['mountPath']}/{item['path']}")
        for name, value in container_env(container).items():
            if name.endswith("_FILE"):
                assert value in files, name

    @pytest.mark.parametrize("value_set", VALUE_SETS)
    def test_no_secret_in_plain_environment(self, helm: str, value_set: str) -> None:
        manifests = render(helm, value_set)
        for configmap in of_kind(manifests, "ConfigMap"):
            for name in configmap["data"]:
                assert not re.search(
                    r"URL$|SECRET|PASSWORD", name.removeprefix("TESSERA_PUBLIC")
                ), name
        for component in ("auth", "users"):
            for name, value in container_env(container_of(manifests, component)).items():
                assert "://" not in value or name in {"TESSERA_JWKS_URL"}, name


# --- signing keys ---------------------------------------------------------------------


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
        for workload in _workloads(manifests):
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


# --- security -------------------------------------------------------------------------


class TestSecurity:
    @pytest.mark.parametrize("value_set", VALUE_SETS)
    def test_pods_run_as_non_root(self, helm: str, value_set: str) -> None:
        manifests = render(helm, value_set)
        for workload in _workloads(manifests):
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
        for workload in _workloads(manifests):
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


# --- scaling --------------------------------------------------------------------------


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


# --- network policy -------------------------------------------------------------------


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


# --- migrations and tests hooks -------------------------------------------------------


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


class TestHelmTest:
    @pytest.mark.parametrize("value_set", VALUE_SETS)
    def test_checks_readiness_and_jwks_through_the_services(
        self, helm: str, value_set: str
    ) -> None:
        manifests = render(helm, value_set)
        pods = [
            p
            for p in of_kind(manifests, "Pod")
            if p["metadata"]["annotations"]["helm.sh/hook"] == "test"
        ]
        assert len(pods) == 1
        script = " ".join(pods[0]["spec"]["containers"][0]["command"])
        auth = named(manifests, "Service", "-auth")["metadata"]["name"]
        users = named(manifests, "Service", "-users")["metadata"]["name"]
        assert f"http://{auth}:8001/readyz" in script
        assert f"http://{users}:8002/readyz" in script
        assert f"http://{auth}:8001/.well-known/jwks.json" in script
