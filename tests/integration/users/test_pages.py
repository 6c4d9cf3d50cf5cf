"""The browser pages' files (the admin console at /admin/, the account page at /account/) as
the users service serves them: the policy headers on every answer, the fixed set of files,
content types, caching, the shared modules under each prefix, and pages with no inline
code."""

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
from tessera_users.pages.router import PAGE_CSP, PAGES, add_page, load_assets, page_assets
from tests.fixtures.servers import IN_CI

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "services" / "users" / "src" / "tessera_users"
SHARED = PACKAGE / "pages" / "shared"
# Each page's prefix and the folder of its own files.
FOLDERS = {"/admin": PACKAGE / "console" / "static", "/account": PACKAGE / "account" / "static"}
STRICT_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


@pytest.fixture(scope="module")
def users_app() -> FastAPI:
    """The whole users app; serving the pages needs no database, Redis or keys."""
    from tessera_users.app import create_app

    return create_app(Settings(env="dev", jwks_url="http://auth:8001/.well-known/jwks.json"))


@pytest.fixture
async def client(users_app: FastAPI):
    transport = httpx.ASGITransport(app=users_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def assert_page_headers(response: httpx.Response) -> None:
    assert response.headers["content-security-policy"] == STRICT_CSP
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"


def source(prefix: str, path: str) -> Path:
    """The file in the repository that ``path`` under ``prefix`` serves."""
    name = path.removeprefix(f"{prefix}/")
    if name.startswith("shared/"):
        return SHARED / name.removeprefix("shared/")
    return FOLDERS[prefix] / name


pages = pytest.mark.parametrize("prefix", sorted(PAGES))


class TestServing:
    def test_every_page_is_listed(self):
        assert set(PAGES) == set(FOLDERS)

    @pages
    async def test_the_page(self, client: httpx.AsyncClient, prefix: str):
        response = await client.get(f"{prefix}/")
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/html; charset=utf-8"
        assert response.headers["cache-control"] == "no-cache"
        assert f'<script type="module" src="{prefix}/app.js">' in response.text
        assert_page_headers(response)

    @pages
    async def test_without_a_slash_redirects_relatively(self, client, prefix: str):
        response = await client.get(prefix)
        assert response.status_code == 301
        assert response.headers["location"] == f"{prefix}/"
        assert_page_headers(response)

    @pytest.mark.parametrize(
        ("path", "content_type"),
        [
            ("/admin/app.js", "text/javascript; charset=utf-8"),
            ("/admin/views/user.js", "text/javascript; charset=utf-8"),
            ("/admin/shared/api.js", "text/javascript; charset=utf-8"),
            ("/admin/shared/pages.css", "text/css; charset=utf-8"),
            ("/admin/shared/favicon.svg", "image/svg+xml"),
            ("/account/app.js", "text/javascript; charset=utf-8"),
            ("/account/views/factors.js", "text/javascript; charset=utf-8"),
            ("/account/shared/signin.js", "text/javascript; charset=utf-8"),
            ("/account/shared/pages.css", "text/css; charset=utf-8"),
        ],
    )
    async def test_files_with_their_types(self, client, path: str, content_type: str):
        response = await client.get(path)
        assert response.status_code == 200
        assert response.headers["content-type"] == content_type
        prefix = "/" + path.split("/")[1]
        assert response.content == source(prefix, path).read_bytes()
        assert_page_headers(response)

    async def test_the_shared_modules_are_the_same_under_each_page(self, client):
        admin = await client.get("/admin/shared/api.js")
        account = await client.get("/account/shared/api.js")
        assert admin.content == account.content == (SHARED / "api.js").read_bytes()
        assert admin.headers["etag"] == account.headers["etag"]

    @pages
    async def test_an_unchanged_file_is_not_sent_again(self, client, prefix: str):
        first = await client.get(f"{prefix}/shared/api.js")
        etag = first.headers["etag"]
        assert first.headers["cache-control"] == "no-cache"
        again = await client.get(f"{prefix}/shared/api.js", headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["etag"] == etag
        assert_page_headers(again)
        changed = await client.get(f"{prefix}/shared/api.js", headers={"If-None-Match": '"x"'})
        assert changed.status_code == 200

    @pages
    @pytest.mark.parametrize(
        "name",
        [
            "nope.js",
            "router.py",
            "__init__.py",
            "%2e%2e/router.py",
            "..%2frouter.py",
            "/app.js",
            "static/app.js",
            "views/",
            "APP.JS",
            "shared/",
            "shared/router.py",
            "shared/%2e%2e/app.js",
            "shared/shared/api.js",
        ],
    )
    async def test_anything_else_is_a_404_problem(self, client, prefix: str, name: str):
        response = await client.get(f"{prefix}/{name}")
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "not_found"
        assert "import" not in response.text
        assert_page_headers(response)

    async def test_a_page_does_not_serve_the_other_ones_files(self, client):
        assert (await client.get("/account/views/user.js")).status_code == 404
        assert (await client.get("/admin/views/factors.js")).status_code == 404

    @pages
    async def test_only_reads_are_allowed(self, client: httpx.AsyncClient, prefix: str):
        for method in ("POST", "PUT", "DELETE"):
            response = await client.request(method, f"{prefix}/app.js", content=b"x")
            assert response.status_code == 405
            assert response.headers["allow"] == "GET"
            assert response.json()["code"] == "method_not_allowed"
            assert_page_headers(response)
        assert (await client.head(f"{prefix}/app.js")).status_code == 200

    async def test_not_in_the_openapi_document(self, users_app: FastAPI):
        paths = users_app.openapi()["paths"]
        assert not [p for p in paths if p.startswith(tuple(PAGES))]

    async def test_one_route_label_per_page(self, client: httpx.AsyncClient):
        # Metrics are labelled by route: names made up by a client must not mint new labels.
        for prefix in PAGES:
            for path in (f"{prefix}/", f"{prefix}/made-up-a", f"{prefix}/shared/made-up-b"):
                await client.get(path)
        metrics = (await client.get("/metrics")).text
        assert 'route="/admin/{file}"' in metrics
        assert 'route="/account/{file}"' in metrics
        assert "made-up" not in metrics


class TestAllowList:
    async def test_the_files_are_read_once_at_startup(self, tmp_path: Path):
        shared = tmp_path / "common"
        shared.mkdir()
        (shared / "lib.js").write_text("export {};")
        page = tmp_path / "page"
        page.mkdir()
        (page / "index.html").write_text("<!doctype html>")
        (page / "secret.txt").write_text("not a page file")
        (page / "notes.py").write_text("print()")
        assets = load_assets(page, shared)
        assert set(assets) == {"index.html", "shared/lib.js"}
        app = FastAPI()
        add_page(app, "/somewhere", assets)
        (page / "late.js").write_text("added after startup")
        (shared / "late.js").write_text("added after startup")

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await client.get("/somewhere/")).status_code == 200
            assert (await client.get("/somewhere/shared/lib.js")).status_code == 200
            for name in ("late.js", "shared/late.js", "secret.txt", "notes.py", "lib.js"):
                assert (await client.get(f"/somewhere/{name}")).status_code == 404

    def test_a_missing_page_stops_the_service_at_startup(self, tmp_path: Path):
        with pytest.raises(RuntimeError, match=r"index\.html"):
            load_assets(tmp_path)

    def test_a_page_cannot_hide_the_shared_files(self, tmp_path: Path):
        (tmp_path / "index.html").write_text("<!doctype html>")
        (tmp_path / "shared").mkdir()
        (tmp_path / "shared" / "api.js").write_text("export {};")
        with pytest.raises(RuntimeError, match="shared"):
            load_assets(tmp_path, SHARED)

    @pages
    def test_every_module_the_page_imports_is_served(self, prefix: str):
        assets = page_assets(PAGES[prefix])
        imports = re.compile(r"""^import .*? from "(\.{1,2}/[^"]+)";""", re.MULTILINE)
        checked = 0
        for name, asset in assets.items():
            if not name.endswith(".js"):
                continue
            for target in imports.findall(asset.body.decode()):
                resolved = (Path("/", name).parent / target).resolve().relative_to("/")
                assert str(resolved) in assets, f"{name} imports {target}"
                checked += 1
        assert checked > 10

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
        for folder in [*FOLDERS.values(), SHARED]:
            prefix = f"{folder.relative_to(PACKAGE.parent).as_posix()}/"
            expected = {
                prefix + p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()
            }
            assert expected <= shipped, prefix
        assert "tessera_users/account/static/index.html" in shipped


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
    @pages
    def test_no_inline_script_handler_or_style(self, prefix: str):
        scan = _PageScan()
        scan.feed((FOLDERS[prefix] / "index.html").read_text())
        assert scan.inline_scripts == 0
        assert scan.handlers == []
        assert scan.styles == []

    @pages
    def test_loads_only_from_its_own_prefix(self, prefix: str):
        scan = _PageScan()
        scan.feed((FOLDERS[prefix] / "index.html").read_text())
        assert scan.urls
        for url in scan.urls:
            assert url.startswith((f"{prefix}/", "#/")), url

    def test_scripts_never_parse_data_as_html(self):
        scripts = [p for folder in [*FOLDERS.values(), SHARED] for p in folder.rglob("*.js")]
        assert len(scripts) > 10
        for path in scripts:
            code = [
                line for line in path.read_text().splitlines() if not line.strip().startswith("//")
            ]
            source = "\n".join(code)
            for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
                assert sink not in source, f"{path.name} uses {sink}"
            for storage in ("localStorage", "sessionStorage", "document.cookie"):
                assert storage not in source, f"{path.name} touches {storage}"
            # The one parser: the API's QR code, read as SVG (XML: no script runs), and
            # cut down to drawing elements before it is adopted (account/static/views/qr.js).
            for parse in re.findall(r"parseFromString\([^)]*\)", source):
                assert parse == 'parseFromString(svgText, "image/svg+xml")', path.name

    def test_the_policy_is_the_strict_one(self):
        assert PAGE_CSP == STRICT_CSP
        assert "unsafe" not in PAGE_CSP
