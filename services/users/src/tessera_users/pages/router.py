"""Serving the browser pages (the admin console at ``/admin/``, the account page at
``/account/``): each a fixed set of files read once at startup, under a strict policy.

A page's files ship inside its package (``static/``); the modules both pages use ship here
(``shared/``) and are served under each page's prefix as ``shared/<name>``, so a page only
ever loads files from its own prefix. Each file is read into memory when the app is built
and looked up by its exact name, so a request can only ever name one of them: no path is
joined to a directory at request time, and ``..`` or an encoded slash is just an unknown
name (404).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable

from fastapi import FastAPI
from starlette.responses import RedirectResponse, Response
from starlette.types import Receive, Scope, Send

from tessera_core.errors import NotFound, TesseraError
from tessera_core.web.errors import error_response
from tessera_core.web.pages import PAGE_HEADERS, content_security_policy

__all__ = [
    "PAGES",
    "PAGE_CSP",
    "Asset",
    "PageFileNotFound",
    "PageFiles",
    "add_page",
    "add_pages",
    "load_assets",
    "page_assets",
]

# Where each page is served, and the package whose ``static/`` holds it.
PAGES = {"/admin": "tessera_users.console", "/account": "tessera_users.account"}
# No inline script or style, no other origin: a page's modules and stylesheets come from
# its prefix, and the only requests it makes are API calls to this same origin (the gateway).
PAGE_CSP = content_security_policy()
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
INDEX = "index.html"
SHARED = "shared/"


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


class PageFileNotFound(NotFound):
    title = "No such page file"


class MethodNotAllowed(TesseraError):
    status = 405
    code = "method_not_allowed"
    title = "Method not allowed"


def load_assets(directory: Traversable, shared: Traversable | None = None) -> dict[str, Asset]:
    """Every file of ``directory`` with a known type, by its path relative to it
    (``views/users.js``), plus every file of ``shared`` as ``shared/<path>``."""
    assets = _read_tree(directory)
    if INDEX not in assets:
        raise RuntimeError(f"the page's {INDEX} is missing from {directory}")
    if shared is not None:
        clash = sorted(name for name in assets if name.startswith(SHARED))
        if clash:
            raise RuntimeError(f"{directory} has files where the shared ones go: {clash}")
        assets.update({f"{SHARED}{name}": asset for name, asset in _read_tree(shared).items()})
    return assets


def page_assets(package: str) -> dict[str, Asset]:
    """The files of the page in ``package`` (its ``static/``), with the shared modules."""
    return load_assets(files(package) / "static", files("tessera_users.pages") / "shared")


def _read_tree(root: Traversable) -> dict[str, Asset]:
    assets: dict[str, Asset] = {}
    pending: list[tuple[str, Traversable]] = [("", root)]
    while pending:
        prefix, folder = pending.pop()
        for entry in folder.iterdir():
            name = f"{prefix}{entry.name}"
            if entry.is_dir():
                pending.append((f"{name}/", entry))
                continue
            content_type = CONTENT_TYPES.get(_suffix(entry.name))
            if content_type is None:
                continue
            body = entry.read_bytes()
            etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
            assets[name] = Asset(body, content_type, etag)
    return assets


def _suffix(name: str) -> str:
    dot = name.rfind(".")
    return name[dot:] if dot > 0 else ""


class PageFiles:
    """The ASGI app mounted at a page's prefix: ``<prefix>/`` is the page,
    ``<prefix>/<name>`` one of its files. Every answer, errors included, carries the
    page's policy headers."""

    def __init__(self, prefix: str, assets: dict[str, Asset]) -> None:
        self.assets = assets
        # The route label of the request log and metrics (``tessera_core.ops.logging``):
        # one for every request of the page, whatever name was asked for.
        self.path = f"{prefix}/{{file}}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = self
        remaining = scope["path"].removeprefix(scope.get("root_path", ""))
        response = self.respond(scope["method"], remaining.removeprefix("/"), _etags(scope))
        response.headers.update(page_headers())
        await response(scope, receive, send)

    def respond(self, method: str, name: str, if_none_match: set[str]) -> Response:
        if method not in ("GET", "HEAD"):
            return error_response(
                MethodNotAllowed("The page's files are read-only.", headers={"Allow": "GET"})
            )
        asset = self.assets.get(name or INDEX)
        if asset is None:
            return error_response(PageFileNotFound("The page has no file by this name."))
        # Kept by the browser but revalidated on every use (a 304 by ETag): the file names
        # carry no version, so a deployment's new modules must never meet an old page.
        headers = {"ETag": asset.etag, "Cache-Control": "no-cache"}
        if asset.etag in if_none_match or "*" in if_none_match:
            return Response(status_code=304, headers=headers)
        return Response(asset.body, media_type=asset.content_type, headers=headers)


def page_headers() -> dict[str, str]:
    return {"Content-Security-Policy": PAGE_CSP, **PAGE_HEADERS}


def add_page(app: FastAPI, prefix: str, assets: dict[str, Asset]) -> None:
    """Serve ``assets`` at ``<prefix>/``, and redirect ``<prefix>`` there (neither is part of
    the OpenAPI document)."""

    async def redirect() -> Response:
        # Relative, so it holds behind any gateway host.
        return RedirectResponse(f"{prefix}/", status_code=301, headers=page_headers())

    app.add_api_route(prefix, redirect, methods=["GET", "HEAD"], include_in_schema=False)
    app.mount(prefix, PageFiles(prefix, assets), name=prefix.strip("/"))


def add_pages(app: FastAPI) -> None:
    """Serve every page of ``PAGES``."""
    for prefix, package in PAGES.items():
        add_page(app, prefix, page_assets(package))


def _etags(scope: Scope) -> set[str]:
    for header, value in scope["headers"]:
        if header == b"if-none-match":
            return {tag.strip().removeprefix("W/") for tag in value.decode("latin-1").split(",")}
    return set()
