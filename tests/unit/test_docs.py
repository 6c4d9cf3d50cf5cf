"""The docs pages' Content-Security-Policy and the Swagger UI files they are served from."""

from __future__ import annotations

import base64
import hashlib

from tessera_core.web.docs import SWAGGER_UI_ASSETS, docs_csp


def directives(policy: str) -> dict[str, list[str]]:
    return {name: sources for name, *sources in (part.split() for part in policy.split("; "))}


class TestDocsCsp:
    def test_allows_each_inline_script_by_its_hash_only(self):
        script = "const ui = SwaggerUIBundle({url: '/api/v1/auth/openapi.json'})"
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        policy = directives(docs_csp(f"<script src='/x.js'></script><script>{script}</script>"))
        assert policy["script-src"] == ["'self'", f"'sha256-{digest}'"]

    def test_names_no_other_origin(self):
        policy = directives(docs_csp("<p>no script</p>"))
        assert policy["default-src"] == ["'none'"]
        assert policy["script-src"] == ["'self'"]
        sources = {source for values in policy.values() for source in values}
        assert sources <= {"'self'", "'none'", "'unsafe-inline'", "data:"}
        assert policy["frame-ancestors"] == ["'none'"]


class TestSwaggerUiAssets:
    def test_the_pinned_wheel_ships_what_the_page_loads(self):
        for name in ("swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"):
            assert (SWAGGER_UI_ASSETS / name).stat().st_size > 0, name
