"""The layout DESIGN.md and docs/architecture.md describe, checked from the imports
themselves: public names through ``__all__``, one direction of travel in auth."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "libs/core/src/tessera_core"
AUTH = ROOT / "services/auth/src/tessera_auth"
USERS = ROOT / "services/users/src/tessera_users"
SOURCES = [
    p
    for folder in ("libs", "services", "tests", "bench", "migrations")
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


CORE_MODULES = sorted(module_name(p, CORE) for p in CORE.rglob("*.py") if p.name != "__init__.py")


class TestCorePublicApi:
    @pytest.mark.parametrize("module", CORE_MODULES)
    def test_every_core_module_declares_all(self, module: str):
        assert isinstance(getattr(importlib.import_module(module), "__all__", None), list)

    def test_imports_from_core_use_only_public_names(self):
        stray = [
            f"{path.relative_to(ROOT)}: {name} from {module}"
            for path in SOURCES
            for module, names in imports_of(path)
            if module.startswith("tessera_core")
            for name in names
            if name not in getattr(importlib.import_module(module), "__all__", [name])
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
