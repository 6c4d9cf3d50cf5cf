"""The rendered chart agrees with the apps on their probe paths and ports, and routes
exactly the public paths of API.md ("Routing") to the service that serves them."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI

from tessera_core.settings import Settings
from tessera_devstack.gateway import gateway_routes
from tests.chart.conftest import (
    ROOT,
    VALUE_SETS,
    Manifest,
    container_env,
    container_of,
    deployment_of,
    named,
    of_kind,
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
    # Nor the account page's (docs/account.md).
    ("prefix", "/account", "users"),
}


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

    def test_the_account_page_reaches_the_users_service(self) -> None:
        for path in ("/account", "/account/", "/account/app.js", "/account/shared/api.js"):
            assert _covered(path, PUBLIC_ROUTES) == "users", path
        assert _covered("/accounts", PUBLIC_ROUTES) is None

    def test_apps_document_their_public_routes(self, app_paths: dict[str, set[str]]) -> None:
        assert "/.well-known/jwks.json" in app_paths["auth"]
        assert "/.well-known/oauth-authorization-server" in app_paths["auth"]
        assert any(p.startswith("/api/v1/auth/") for p in app_paths["auth"])
        if "users" in app_paths:
            assert "/api/v1/users" in app_paths["users"]
