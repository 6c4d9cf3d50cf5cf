"""``GET /api/v1/auth/verify`` answered ahead of routing.

The gateway asks ``/verify`` before every request it forwards, so its cost is paid once
per request to the whole platform. Through FastAPI's routing, dependency tree and
exception middleware it spent most of its time there rather than in the token check
(docs/benchmarks.md). This middleware sits inside the request context and body limit
(request id, log line, metrics, as for every route) and answers a ``GET`` of the path
itself: the same checks, the same headers, the same problem+json errors as the route in
``tokens.router``, which stays for the OpenAPI document and every other method.
"""

from __future__ import annotations

from fastapi.routing import APIRoute
from fastapi.security.utils import get_authorization_scheme_param
from starlette.types import ASGIApp, Receive, Scope, Send

from tessera_core.deps import verified_claims
from tessera_core.errors import TesseraError, error_response
from tessera_core.runtime import CoreState
from tessera_core.tokens import AccessClaims

__all__ = ["ForwardAuthMiddleware", "identity_headers"]


def identity_headers(claims: AccessClaims) -> dict[str, str]:
    """What the gateway copies onto the request it forwards."""
    return {
        "X-Auth-User-Id": claims.sub,
        "X-Auth-Username": claims.preferred_username,
        "X-Auth-Roles": ",".join(claims.roles),
        "X-Auth-Session-Id": claims.sid,
        "Cache-Control": "no-store",
    }


def _bearer_token(scope: Scope) -> str | None:
    """``OAuth2PasswordBearer``'s reading of the ``Authorization`` header."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, token = get_authorization_scheme_param(value.decode("latin-1"))
            return token if scheme.lower() == "bearer" else None
    return None


class ForwardAuthMiddleware:
    def __init__(self, app: ASGIApp, route: APIRoute) -> None:
        self.app = app
        self.route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope["path"] != self.route.path:
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route  # the metrics' and the log line's route label
        core: CoreState = scope["state"]["core"]
        try:
            claims = await verified_claims(_bearer_token(scope), core)
        except TesseraError as exc:
            await error_response(exc)(scope, receive, send)
            return
        headers = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in identity_headers(claims).items()
        ]
        headers.append((b"content-length", b"0"))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
