"""The API docs through the gateway with no Internet: the page and every asset it
references come from the gateway's own origin, the Content-Security-Policy allows no
other, and Swagger UI's "Authorize" (the OAuth password grant, sent as Swagger UI sends
it) gets a token that the API then accepts.

The check of a page and its assets (``check_offline_docs``) is in ``docs_offline.py``,
shared with ``test_bare_machine`` (the Python dev router)."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import urljoin

import httpx
import pytest

from tests.e2e.accounts import PASSWORD, register
from tests.e2e.docs_offline import (
    DOCS_PREFIXES,
    INLINE_SCRIPT,
    assert_same_origin,
    check_offline_docs,
    csp_directives,
)
from tests.e2e.stack import Stack

pytestmark = pytest.mark.e2e


def authorize_like_swagger_ui(client: httpx.Client, prefix: str, username: str) -> str:
    """What the "Authorize" dialog does for the OAuth password flow: read ``tokenUrl`` from
    the OpenAPI document and POST the form with Swagger UI's headers (its default client
    credentials location is an empty HTTP Basic header). Returns the access token."""
    schema = client.get(f"{prefix}/openapi.json").json()
    schemes = schema["components"]["securitySchemes"]
    (password_flow,) = [s["flows"]["password"] for s in schemes.values() if s["type"] == "oauth2"]
    token_url = urljoin(f"{client.base_url}{prefix}/docs", password_flow["tokenUrl"])
    assert_same_origin(token_url, str(client.base_url).rstrip("/"), "tokenUrl")
    response = client.post(
        token_url,
        data={"grant_type": "password", "scope": "", "username": username, "password": PASSWORD},
        headers={
            "Accept": "application/json, text/plain, */*",
            "X-Requested-With": "XMLHttpRequest",
            "Authorization": "Basic " + base64.b64encode(b":").decode(),
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    token: str = body["access_token"]
    return token


class TestOfflineDocs:
    @pytest.mark.parametrize("prefix", DOCS_PREFIXES)
    def test_page_and_every_asset_come_from_the_gateway(
        self, stack: Stack, gateway_client: httpx.Client, prefix: str
    ):
        fetched = check_offline_docs(gateway_client, prefix)
        assert any(url.endswith("swagger-ui-bundle.js") for url in fetched), fetched
        assert any(url.endswith("/openapi.json") for url in fetched), fetched

    @pytest.mark.parametrize("prefix", DOCS_PREFIXES)
    def test_authorize_gets_a_token_the_api_accepts(
        self, stack: Stack, gateway_client: httpx.Client, prefix: str
    ):
        username = register(gateway_client)
        token = authorize_like_swagger_ui(gateway_client, prefix, username)
        me = gateway_client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200, me.text
        assert me.json()["username"] == username

    def test_the_oauth_redirect_page_has_the_policy_too(self, gateway_client: httpx.Client):
        page = gateway_client.get("/api/v1/auth/docs/oauth2-redirect")
        assert page.status_code == 200
        script_src = csp_directives(page.headers["content-security-policy"])["script-src"]
        for script in INLINE_SCRIPT.findall(page.text):
            digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
            assert f"'sha256-{digest}'" in script_src
