"""Serving the console's files: a fixed set read once at startup, under a strict policy.

The files ship inside this package (``static/``). Each is read into memory when the app
is built and looked up by its exact name, so a request can only ever name one of them:
no path is joined to a directory at request time, and ``..`` or an encoded slash is just
an unknown name (404).
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
    "CONSOLE_CSP",
    "CONSOLE_PREFIX",
    "Asset",
    "Console",
    "ConsoleFileNotFound",
    "add_console",
    "load_assets",
]

CONSOLE_PREFIX = "/admin"
# No inline script or style, no other origin: the page's modules and stylesheet come from
# here, and the only requests it makes are API calls to this same origin (the gateway).
CONSOLE_CSP = content_security_policy()
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
INDEX = "index.html"


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


class ConsoleFileNotFound(NotFound):
    title = "No such console file"


class MethodNotAllowed(TesseraError):
    status = 405
    code = "method_not_allowed"
    title = "Method not allowed"


def load_assets(directory: Traversable | None = None) -> dict[str, Asset]:
    """Every file of ``directory`` (default: the packaged ``static/``) with a known type,
    by its path relative to it (``views/users.js``)."""
    root = directory or files("tessera_users.console") / "static"
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
    if INDEX not in assets:
        raise RuntimeError(f"the console's {INDEX} is missing from {root}")
    return assets


def _suffix(name: str) -> str:
    dot = name.rfind(".")
    return name[dot:] if dot > 0 else ""


class Console:
    """The ASGI app mounted at ``/admin``: ``/admin/`` is the page, ``/admin/<name>`` one of
    its files. Every answer, errors included, carries the console's policy headers."""

    # The route label of the request log and metrics (``tessera_core.ops.logging``): one for
    # every console request, whatever name was asked for.
    path = f"{CONSOLE_PREFIX}/{{file}}"

    def __init__(self, assets: dict[str, Asset] | None = None) -> None:
        self.assets = assets if assets is not None else load_assets()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = self
        remaining = scope["path"].removeprefix(scope.get("root_path", ""))
        response = self.respond(scope["method"], remaining.removeprefix("/"), _etags(scope))
        response.headers.update(console_headers())
        await response(scope, receive, send)

    def respond(self, method: str, name: str, if_none_match: set[str]) -> Response:
        if method not in ("GET", "HEAD"):
            return error_response(
                MethodNotAllowed("The console's files are read-only.", headers={"Allow": "GET"})
            )
        asset = self.assets.get(name or INDEX)
        if asset is None:
            return error_response(ConsoleFileNotFound("The console has no file by this name."))
        # Kept by the browser but revalidated on every use (a 304 by ETag): the file names
        # carry no version, so a deployment's new modules must never meet an old page.
        headers = {"ETag": asset.etag, "Cache-Control": "no-cache"}
        if asset.etag in if_none_match or "*" in if_none_match:
            return Response(status_code=304, headers=headers)
        return Response(asset.body, media_type=asset.content_type, headers=headers)


def console_headers() -> dict[str, str]:
    return {"Content-Security-Policy": CONSOLE_CSP, **PAGE_HEADERS}


async def redirect_to_console() -> Response:
    """``/admin`` → ``/admin/``: relative, so it holds behind any gateway host."""
    return RedirectResponse(f"{CONSOLE_PREFIX}/", status_code=301, headers=console_headers())


def add_console(app: FastAPI, assets: dict[str, Asset] | None = None) -> None:
    """Serve the console at ``/admin/`` (not part of the OpenAPI document)."""
    app.add_api_route(
        CONSOLE_PREFIX, redirect_to_console, methods=["GET", "HEAD"], include_in_schema=False
    )
    app.mount(CONSOLE_PREFIX, Console(assets), name="console")


def _etags(scope: Scope) -> set[str]:
    for header, value in scope["headers"]:
        if header == b"if-none-match":
            return {tag.strip().removeprefix("W/") for tag in value.decode("latin-1").split(",")}
    return set()
