"""The offline API docs check that test_docs_offline (gateway) and test_bare_machine (dev
router) share: a docs page and all it references come from one origin, its CSP allows no other."""

from __future__ import annotations

import base64
import hashlib
import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import httpx

DOCS_PREFIXES = ("/api/v1/auth", "/api/v1/users")
# What a docs page may allow besides its own origin: nothing that names another host.
KEYWORDS = {"'self'", "'none'", "'unsafe-inline'"}
INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)
QUOTED_URL = re.compile(r"""["']((?:[a-z][a-z0-9+.-]*:)?//[^"']*|/[^"'\s]*)["']""", re.I)
CSS_URL = re.compile(r"""url\(\s*["']?([^"')]+)""")
SOURCE_MAP = re.compile(r"[#@] sourceMappingURL=(\S+)")


class _References(HTMLParser):
    """Every ``src`` and ``href`` of a page, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in {"src", "href"} and value]


def page_references(html: str) -> list[str]:
    """The URLs a docs page makes a browser load: its tags' ``src``/``href`` and the URLs
    in its inline configuration script (the OpenAPI document, the OAuth redirect)."""
    parser = _References()
    parser.feed(html)
    inline = [url for script in INLINE_SCRIPT.findall(html) for url in QUOTED_URL.findall(script)]
    return parser.urls + inline


def csp_directives(header: str) -> dict[str, list[str]]:
    directives = [part.split() for part in header.split(";") if part.strip()]
    return {name: sources for name, *sources in directives}


def assert_same_origin(url: str, origin: str, where: str) -> None:
    if url.startswith("data:"):
        return
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == origin, f"{where} points off the host: {url}"


def check_offline_docs(client: httpx.Client, prefix: str) -> dict[str, int]:
    """Fetch ``<prefix>/docs`` and everything it references through ``client`` (based on the
    gateway), assert that all of it is on the gateway's origin and that the CSP names no
    other; returns ``{url: bytes}`` of what was fetched."""
    origin = str(client.base_url).rstrip("/")
    page_url = f"{origin}{prefix}/docs"
    page = client.get(page_url)
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")

    csp = csp_directives(page.headers["content-security-policy"])
    assert csp["default-src"] == ["'none'"], csp
    for directive, sources in csp.items():
        for source in sources:
            allowed = source in KEYWORDS or source.startswith("'sha256-") or source == "data:"
            assert allowed, f"{directive} allows {source}"
    assert "'unsafe-inline'" not in csp["script-src"], csp["script-src"]
    assert "data:" not in csp["script-src"], csp["script-src"]
    inline_scripts = INLINE_SCRIPT.findall(page.text)
    assert inline_scripts, "Swagger UI's configuration script is gone"
    for script in inline_scripts:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp["script-src"], "the CSP would block the page's script"

    fetched: dict[str, int] = {page_url: len(page.content)}
    pending = [(urljoin(page_url, url), page_url) for url in page_references(page.text)]
    assert len(pending) >= 4, pending  # stylesheet, favicon, bundle, openapi.json at least
    while pending:
        url, referrer = pending.pop()
        assert_same_origin(url, origin, referrer)
        if url.startswith("data:") or url.split("#")[0] in fetched:
            continue
        asset = client.get(url)
        assert asset.status_code == 200, (url, asset.status_code)
        fetched[url.split("#")[0]] = len(asset.content)
        kind = asset.headers["content-type"]
        if "css" in kind:
            pending += [(urljoin(url, ref), url) for ref in CSS_URL.findall(asset.text)]
        if "css" in kind or "javascript" in kind:
            # A source map is fetched only by a browser's developer tools, but it must
            # not point elsewhere either; it may be absent from the wheel.
            for ref in SOURCE_MAP.findall(asset.text[-500:]):
                assert_same_origin(urljoin(url, ref), origin, url)
    return fetched
