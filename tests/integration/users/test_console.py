"""The admin console's files as the users service serves them: the policy headers on every
answer, the fixed set of files, content types, caching, and a page with no inline code."""

from __future__ import annotations

import re
import shutil
import subprocess
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tessera_core.settings import Settings
from tessera_users.console.router import CONSOLE_CSP, add_console, load_assets
from tests.fixtures.servers import IN_CI

ROOT = Path(__file__).resolve().parents[3]
STATIC = ROOT / "services" / "users" / "src" / "tessera_users" / "console" / "static"
STRICT_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


@pytest.fixture(scope="module")
def users_app() -> FastAPI:
    """The whole users app; serving the console needs no database, Redis or keys."""
    from tessera_users.app import create_app

    return create_app(Settings(env="dev", jwks_url="http://auth:8001/.well-known/jwks.json"))


@pytest.fixture
async def client(users_app: FastAPI):
    transport = httpx.ASGITransport(app=users_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def assert_console_headers(response: httpx.Response) -> None:
    assert response.headers["content-security-policy"] == STRICT_CSP
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"


class TestServing:
    async def test_the_page(self, client: httpx.AsyncClient):
        response = await client.get("/admin/")
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert response.headers["cache-control"] == "no-cache"
        assert '<script type="module" src="/admin/app.js">' in response.text
        assert_console_headers(response)

    async def test_admin_without_a_slash_redirects_relatively(self, client: httpx.AsyncClient):
        response = await client.get("/admin")
        assert response.status_code == 301
        assert response.headers["location"] == "/admin/"
        assert_console_headers(response)

    @pytest.mark.parametrize(
        ("path", "content_type"),
        [
            ("/admin/app.js", "text/javascript; charset=utf-8"),
            ("/admin/views/user.js", "text/javascript; charset=utf-8"),
            ("/admin/console.css", "text/css; charset=utf-8"),
            ("/admin/favicon.svg", "image/svg+xml"),
        ],
    )
    async def test_files_with_their_types(self, client, path: str, content_type: str):
        response = await client.get(path)
        assert response.status_code == 200
        assert response.headers["content-type"] == content_type
        assert response.content == (STATIC / path.removeprefix("/admin/")).read_bytes()
        assert_console_headers(response)

    async def test_an_unchanged_file_is_not_sent_again(self, client: httpx.AsyncClient):
        first = await client.get("/admin/api.js")
        etag = first.headers["etag"]
        assert first.headers["cache-control"] == "no-cache"
        again = await client.get("/admin/api.js", headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["etag"] == etag
        assert_console_headers(again)
        changed = await client.get("/admin/api.js", headers={"If-None-Match": '"other"'})
        assert changed.status_code == 200

    @pytest.mark.parametrize(
        "path",
        [
            "/admin/nope.js",
            "/admin/router.py",
            "/admin/__init__.py",
            "/admin/%2e%2e/router.py",
            "/admin/..%2frouter.py",
            "/admin//app.js",
            "/admin/static/app.js",
            "/admin/views/",
            "/admin/APP.JS",
        ],
    )
    async def test_anything_else_is_a_404_problem(self, client: httpx.AsyncClient, path: str):
        response = await client.get(path)
        assert response.status_code == 404
        if path.startswith("/admin/"):
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["code"] == "not_found"
        assert "import" not in response.text

    async def test_only_reads_are_allowed(self, client: httpx.AsyncClient):
        response = await client.post("/admin/app.js", content=b"x")
        assert response.status_code == 405
        assert response.headers["allow"] == "GET"
        assert response.json()["code"] == "method_not_allowed"
        assert_console_headers(response)
        assert (await client.head("/admin/app.js")).status_code == 200

    async def test_not_in_the_openapi_document(self, users_app: FastAPI):
        assert not [p for p in users_app.openapi()["paths"] if p.startswith("/admin")]

    async def test_one_route_label_for_every_console_request(self, client: httpx.AsyncClient):
        # Metrics are labelled by route: names made up by a client must not mint new labels.
        for path in ("/admin/", "/admin/made-up-a", "/admin/made-up-b"):
            await client.get(path)
        metrics = (await client.get("/metrics")).text
        assert 'route="/admin/{file}"' in metrics
        assert "made-up" not in metrics


class TestAllowList:
    async def test_the_files_are_read_once_at_startup(self, tmp_path: Path):
        (tmp_path / "index.html").write_text("<!doctype html>")
        (tmp_path / "secret.txt").write_text("not a console file")
        (tmp_path / "notes.py").write_text("print()")
        assets = load_assets(tmp_path)
        assert set(assets) == {"index.html"}
        app = FastAPI()
        add_console(app, assets)
        (tmp_path / "late.js").write_text("added after startup")

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/admin/")).status_code == 200
            for name in ("late.js", "secret.txt", "notes.py"):
                assert (await client.get(f"/admin/{name}")).status_code == 404

    def test_a_missing_page_stops_the_service_at_startup(self, tmp_path: Path):
        with pytest.raises(RuntimeError, match=r"index\.html"):
            load_assets(tmp_path)

    def test_every_module_the_page_imports_is_served(self):
        assets = load_assets()
        imports = re.compile(r"""^import .*? from "(\.{1,2}/[^"]+)";""", re.MULTILINE)
        for name, asset in assets.items():
            if not name.endswith(".js"):
                continue
            for target in imports.findall(asset.body.decode()):
                resolved = (Path("/", name).parent / target).resolve().relative_to("/")
                assert str(resolved) in assets, f"{name} imports {target}"

    def test_the_wheel_ships_the_files(self, tmp_path: Path):
        """The images install the users package as a wheel, not from the source tree."""
        uv = shutil.which("uv")
        if uv is None:
            if IN_CI:
                pytest.fail("CI=true and uv is not on PATH")
            pytest.skip("uv is not on PATH")
        subprocess.run(
            [uv, "build", "--package", "tessera-users", "--wheel", "-o", str(tmp_path), "-q"],
            cwd=ROOT,
            check=True,
            timeout=120,
        )
        (wheel,) = tmp_path.glob("*.whl")
        shipped = set(zipfile.ZipFile(wheel).namelist())
        prefix = "tessera_users/console/static/"
        expected = {prefix + str(p.relative_to(STATIC)) for p in STATIC.rglob("*") if p.is_file()}
        assert expected <= shipped
        assert prefix + "index.html" in shipped


class _PageScan(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.inline_scripts = 0
        self.handlers: list[str] = []
        self.styles: list[str] = []
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "script" and not named.get("src"):
            self.inline_scripts += 1
        if tag == "style":
            self.styles.append("<style>")
        for name, value in attrs:
            if name.startswith("on"):
                self.handlers.append(f"{tag} {name}")
            if name == "style":
                self.styles.append(f"{tag} style=")
            if name in ("src", "href") and value:
                self.urls.append(value)


class TestThePage:
    def test_no_inline_script_handler_or_style(self):
        scan = _PageScan()
        scan.feed((STATIC / "index.html").read_text())
        assert scan.inline_scripts == 0
        assert scan.handlers == []
        assert scan.styles == []

    def test_loads_only_from_its_own_origin(self):
        scan = _PageScan()
        scan.feed((STATIC / "index.html").read_text())
        assert scan.urls
        for url in scan.urls:
            assert url.startswith(("/admin/", "#/")), url

    def test_scripts_never_parse_data_as_html(self):
        for path in STATIC.rglob("*.js"):
            code = [
                line for line in path.read_text().splitlines() if not line.strip().startswith("//")
            ]
            source = "\n".join(code)
            for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
                assert sink not in source, f"{path.name} uses {sink}"
            for storage in ("localStorage", "sessionStorage", "document.cookie"):
                assert storage not in source, f"{path.name} touches {storage}"

    def test_the_policy_is_the_strict_one(self):
        assert CONSOLE_CSP == STRICT_CSP
        assert "unsafe" not in CONSOLE_CSP
