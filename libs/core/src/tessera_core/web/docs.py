"""The API docs pages, served whole by the service itself.

FastAPI's default Swagger UI page loads its script and style from a public CDN: blank
without Internet access, and third-party script running on the auth service's origin,
next to the tokens the "Authorize" dialog obtains. Here the page loads Swagger UI from
the pinned ``fastapi-offline`` wheel's copy under ``<prefix>/docs/static/``, and every
docs page carries a Content-Security-Policy that allows this origin only; the page's one
inline script (Swagger UI's configuration) is allowed by its hash, not by
``'unsafe-inline'``.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Awaitable, Callable
from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse

from tessera_core.web.pages import PAGE_HEADERS, content_security_policy

__all__ = ["SWAGGER_UI_ASSETS", "add_docs", "docs_csp"]

# fastapi-offline ships swagger-ui-dist's bundle, stylesheet and a favicon; the wheel is
# pinned, so an upgrade of Swagger UI is a reviewed change of the lock file.
SWAGGER_UI_ASSETS = Path(str(files("fastapi_offline") / "static"))
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def docs_csp(html: str) -> str:
    """The Content-Security-Policy for a docs page: this origin only, and the page's own
    inline scripts by their SHA-256.

    Swagger UI needs ``data:`` images (its icons are inline SVG in the stylesheet) and
    inline styles (it sets ``style`` attributes); neither loads anything from elsewhere.

    Example:
        >>> "script-src 'self' 'sha256-" in docs_csp("<script>go()</script>")
        True
    """
    hashes = [
        f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
        for script in _INLINE_SCRIPT.findall(html)
    ]
    return content_security_policy(scripts=hashes, styles=["'unsafe-inline'"], images=["data:"])


def _page(response: HTMLResponse) -> Callable[[], Awaitable[HTMLResponse]]:
    """A route answering ``response``'s page with its CSP (computed once: the page is
    fixed when the app is built)."""
    html = bytes(response.body).decode()
    headers = {"Content-Security-Policy": docs_csp(html), **PAGE_HEADERS}

    async def page() -> HTMLResponse:
        return HTMLResponse(html, headers=headers)

    return page


def add_docs(app: FastAPI, docs_prefix: str) -> None:
    """Serve Swagger UI at ``<docs_prefix>/docs`` (and its OAuth redirect page) from the
    service's own static files. Build the app with ``docs_url=None``.

    Example:
        >>> app = FastAPI(docs_url=None, openapi_url="/api/v1/auth/openapi.json")
        >>> add_docs(app, "/api/v1/auth")
    """
    static = f"{docs_prefix}/docs/static"
    redirect = f"{docs_prefix}/docs/oauth2-redirect"
    swagger = get_swagger_ui_html(
        openapi_url=str(app.openapi_url),
        title=f"{app.title} - Swagger UI",
        swagger_js_url=f"{static}/swagger-ui-bundle.js",
        swagger_css_url=f"{static}/swagger-ui.css",
        swagger_favicon_url=f"{static}/favicon.png",
        oauth2_redirect_url=redirect,
        swagger_ui_parameters=app.swagger_ui_parameters,
    )
    app.add_api_route(f"{docs_prefix}/docs", _page(swagger), include_in_schema=False)
    redirect_page = _page(get_swagger_ui_oauth2_redirect_html())
    app.add_api_route(redirect, redirect_page, include_in_schema=False)
    app.mount(static, StaticFiles(directory=SWAGGER_UI_ASSETS), name="docs-static")
