"""Pure ASGI middleware shared by both services: the request's context (id, log line,
metrics) and the body limit."""

from __future__ import annotations

import secrets
import time

import structlog
from fastapi.responses import JSONResponse
from prometheus_client import Counter, Histogram
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tessera_core.errors import PROBLEM_JSON, PayloadTooLarge
from tessera_core.ops.logging import VALID_REQUEST_ID
from tessera_core.ops.metrics import HTTP_DURATION, HTTP_REQUESTS
from tessera_core.web.errors import internal_error

__all__ = [
    "UNMATCHED_ROUTE",
    "BodySizeLimitMiddleware",
    "RequestContextMiddleware",
    "route_template",
]

UNMATCHED_ROUTE = "unmatched"


class BodySizeLimitMiddleware:
    """Answer 413 for bodies over ``max_bytes``, declared or streamed, before the app reads them."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                exc = PayloadTooLarge(f"The body exceeds {self.max_bytes} bytes.")
                response = JSONResponse(exc.body(), status_code=exc.status, media_type=PROBLEM_JSON)
                await response(scope, receive, send)
                return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # An HTTPException passes through FastAPI's body parsing untouched
                    # and reaches the one handler, which renders it as problem+json.
                    raise StarletteHTTPException(413, "Request body too large")
            return message

        await self.app(scope, limited_receive, send)


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE


class RequestContextMiddleware:
    """Request id (taken from ``X-Request-ID`` or generated, echoed back), one log line
    per request, and the HTTP metrics — in one pass."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service
        # Bound once: a logger from ``get_logger`` binds itself anew on every call (5 % of
        # /verify's CPU, profiled).
        self.log = structlog.get_logger("tessera.request").bind()
        self._metric_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def _children(self, method: str, route: str, status: int) -> tuple[Counter, Histogram]:
        """The labelled metrics of one (method, route template, status): looked up once,
        not on every request (bounded: templates, not raw paths)."""
        key = (method, route, status)
        children = self._metric_children.get(key)
        if children is None:
            children = (
                HTTP_REQUESTS.labels(self.service, method, route, str(status)),
                HTTP_DURATION.labels(self.service, method, route),
            )
            self._metric_children[key] = children
        return children

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = ""
        for name, value in scope.get("headers", []):
            if name == b"x-request-id":
                candidate = value.decode("latin-1")
                if VALID_REQUEST_ID.match(candidate):
                    request_id = candidate
                break
        request_id = request_id or secrets.token_hex(16)
        scope.setdefault("state", {})["request_id"] = request_id
        # Every request clears the context as it ends, so none is left to clear here.
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status, response_started = message["status"], True
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode("latin-1")),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            if response_started:
                raise
            # Answered here rather than by Starlette's ServerErrorMiddleware, which would
            # re-raise it for the server to log a second traceback.
            await internal_error(exc)(scope, receive, send_with_id)
        finally:
            duration = time.perf_counter() - started
            route = route_template(scope)
            method = scope["method"]
            counter, histogram = self._children(method, route, status)
            counter.inc()
            histogram.observe(duration)
            if route not in ("/healthz", "/readyz", "/metrics"):
                self.log.info(
                    "request",
                    method=method,
                    route=route,
                    status=status,
                    duration_ms=round(duration * 1000, 2),
                )
            structlog.contextvars.clear_contextvars()
