"""Routes answered ahead of routing and the dependency tree.

A few GETs are asked far more often than any other request: ``/verify`` before every
request the gateway forwards, ``/users/me`` by every client. Profiled under load, most of
their time went to FastAPI's routing, dependency resolution, response validation and
exception middleware rather than to their work (docs/benchmarks.md). ``HotPath`` sits
inside the request context and the body limit (request id, log line, metrics, as for every
route) and answers a ``GET`` of one route's path itself, with the same checks and the same
problem+json errors; the route stays for the OpenAPI document, for every other method, and
for the requests an answer hands back (``None``: say, query parameters it does not parse),
which the route answers as it always has.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi.routing import APIRoute
from fastapi.security.utils import get_authorization_scheme_param
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from tessera_core.errors import (
    DATABASE_UNREACHABLE,
    TesseraError,
    database_unreachable,
    error_response,
)
from tessera_core.runtime import CoreState

__all__ = ["Answer", "HotPath", "bearer_token", "core_of"]

# A hot path's answer to a request, or None to leave it to the route.
Answer = Callable[[Scope], Awaitable[Response | None]]


def core_of(scope: Scope) -> CoreState:
    """The running service's ``CoreState`` (the lifespan state every request carries)."""
    core: CoreState = scope["state"]["core"]
    return core


def bearer_token(scope: Scope) -> str | None:
    """``OAuth2PasswordBearer``'s reading of the ``Authorization`` header."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, token = get_authorization_scheme_param(value.decode("latin-1"))
            return token if scheme.lower() == "bearer" else None
    return None


class HotPath:
    """Answer ``GET route.path`` with ``answer``; pass everything else on."""

    def __init__(self, app: ASGIApp, route: APIRoute, answer: Answer) -> None:
        self.app = app
        self.route = route
        self.answer = answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope["path"] != self.route.path:
            await self.app(scope, receive, send)
            return
        try:
            response = await self.answer(scope)
        except TesseraError as exc:
            response = error_response(exc)
        except DATABASE_UNREACHABLE as exc:
            response = database_unreachable(exc)
        if response is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route  # the metrics' and the log line's route label
        await response(scope, receive, send)
