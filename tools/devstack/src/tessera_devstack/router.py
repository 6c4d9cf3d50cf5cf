"""The Python dev router: the gateway of ``make dev`` where nginx is not installed. It
routes like the nginx template (its routes are read from it) and forwards over pooled
keep-alive connections, parsed with httptools.

Run as ``python -m tessera_devstack.router --port 8000 --template deploy/gateway/
default.conf.template --auth 127.0.0.1:8001 --users 127.0.0.1:8002``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httptools
import uvicorn

from tessera_devstack.gateway import gateway_routes

__all__ = [
    "UpstreamError",
    "UpstreamPool",
    "build_router_app",
    "main",
]

ROUTER_MAX_CONNECTIONS = 512  # per upstream at once, as nginx's worker_connections here
ROUTER_IDLE_CONNECTIONS = 64  # idle keep-alive connections kept per upstream
# Shorter than uvicorn's 5 s keep-alive, so the router drops an idle connection before
# the service does (a request sent just as the service closes it would be lost).
ROUTER_IDLE_SECONDS = 2.0
ROUTER_CONNECT_TIMEOUT = 5.0  # nginx: proxy_connect_timeout 5s
ROUTER_READ_TIMEOUT = 60.0  # nginx: proxy_read_timeout 60s
ROUTER_MAX_BODY = 1024 * 1024  # nginx: client_max_body_size 1m
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"content-length",
    }
)
# Set by the gateway itself, never taken from the caller (as in the nginx template).
FORWARDED = frozenset(
    {b"host", b"x-request-id", b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host"}
)
# Not passed upstream: hop-by-hop, set by the gateway, or ``Expect`` (the router has read
# the whole body already; passed on, the service's ``100 Continue`` would be taken for
# the answer).
NOT_FORWARDED = HOP_BY_HOP | FORWARDED | {b"expect"}

Headers = list[tuple[bytes, bytes]]


class UpstreamError(Exception):
    """The upstream could not be reached or broke off: ``reused`` if on a kept-alive
    connection, ``answered`` if any byte of a response had come."""

    def __init__(self, message: str, *, reused: bool, answered: bool) -> None:
        super().__init__(message)
        self.reused = reused
        self.answered = answered


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float = 0.0


class UpstreamPool:
    """HTTP/1.1 keep-alive connections to one upstream, parsed with httptools (the C parser
    uvicorn uses), so forwarding costs little next to the services' own work.

    Example:
        >>> pool = UpstreamPool("127.0.0.1", 8001)
        >>> await pool.request("GET", b"/healthz", [], b"")  # doctest: +SKIP
        (200, [(b'content-type', b'application/json'), ...], b'{"status":"ok"}')
    """

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(ROUTER_MAX_CONNECTIONS)

    async def request(
        self, method: str, target: bytes, headers: Headers, body: bytes
    ) -> tuple[int, Headers, bytes]:
        async with self._slots:
            try:
                return await self._exchange(method, target, headers, body)
            except UpstreamError as exc:
                # A kept-alive connection that the service closed as we wrote to it: try once
                # more on a new connection, as nginx does for requests it may repeat.
                if exc.reused and not exc.answered and method in IDEMPOTENT:
                    return await self._exchange(method, target, headers, body, fresh=True)
                raise

    async def _connection(self, fresh: bool) -> tuple[_Connection, bool]:
        now = time.monotonic()
        while self._idle and not fresh:
            conn = self._idle.pop()
            if now - conn.idle_since < ROUTER_IDLE_SECONDS and not conn.reader.at_eof():
                return conn, True
            conn.writer.close()
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), ROUTER_CONNECT_TIMEOUT
            )
        except (OSError, TimeoutError) as exc:
            raise UpstreamError(str(exc), reused=False, answered=False) from exc
        return _Connection(reader, writer), False

    async def _exchange(
        self, method: str, target: bytes, headers: Headers, body: bytes, fresh: bool = False
    ) -> tuple[int, Headers, bytes]:
        conn, reused = await self._connection(fresh)
        head = [method.encode("ascii"), b" ", target, b" HTTP/1.1\r\n"]
        for name, value in headers:
            head += [name, b": ", value, b"\r\n"]
        if body or method not in {"GET", "HEAD", "OPTIONS", "DELETE"}:
            head += [b"content-length: ", str(len(body)).encode(), b"\r\n"]
        head.append(b"\r\n")
        parsed = _ParsedResponse()
        parser = httptools.HttpResponseParser(parsed)
        answered = False
        try:
            conn.writer.write(b"".join(head) + body)
            async with asyncio.timeout(ROUTER_READ_TIMEOUT):
                await conn.writer.drain()
                while not parsed.complete and not (method == "HEAD" and parsed.headers_done):
                    data = await conn.reader.read(65536)
                    if not data:
                        raise ConnectionResetError("the upstream closed the connection")
                    answered = True
                    parser.feed_data(data)
        except (OSError, TimeoutError, httptools.HttpParserError) as exc:
            conn.writer.close()
            raise UpstreamError(str(exc), reused=reused, answered=answered) from exc
        if (
            parsed.complete
            and parser.should_keep_alive()
            and len(self._idle) < ROUTER_IDLE_CONNECTIONS
        ):
            conn.idle_since = time.monotonic()
            self._idle.append(conn)
        else:
            conn.writer.close()
        return parser.get_status_code(), parsed.headers, b"".join(parsed.body)

    def close(self) -> None:
        for conn in self._idle:
            conn.writer.close()
        self._idle.clear()


class _ParsedResponse:
    """httptools callbacks: collect one response."""

    def __init__(self) -> None:
        self.headers: Headers = []
        self.body: list[bytes] = []
        self.headers_done = False
        self.complete = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.complete = True


def build_router_app(template: str, upstreams: Mapping[str, str]) -> Any:
    """An ASGI app routing like the nginx template: same prefixes, no rewriting (the raw
    path and query go upstream as received), request id passed on or generated, the same
    forwarded headers, 1 MiB body limit, 502 when a service does not answer.

    It forwards every request at once over pooled keep-alive connections, and does so in
    plain ASGI with the C HTTP parser, so it is not what limits a load test."""
    routes = gateway_routes(template)
    landing = re.search(r"return 200 '(<!doctype html>.*?)';", template, re.DOTALL)
    landing_html = (landing.group(1) if landing else "<h1>Tessera</h1>").encode()
    pools: dict[str, UpstreamPool] = {}
    for service, address in upstreams.items():
        host, _, port = address.rpartition(":")
        pools[service] = UpstreamPool(host or "127.0.0.1", int(port))

    def route_for(path: str) -> str | None:
        for exact, prefix, service in routes:
            if path == prefix if exact else path.startswith(prefix):
                return service
        return None

    async def respond(send: Any, status: int, headers: Headers, body: bytes) -> None:
        headers = [*headers, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def problem(
        send: Any, status: int, title: str, detail: str, code: str, rid: bytes
    ) -> None:
        body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
        payload = json.dumps({**body, "code": code}).encode()
        headers = [(b"content-type", b"application/problem+json"), (b"x-request-id", rid)]
        await respond(send, status, headers, payload)

    async def lifespan(receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for pool in pools.values():
                    pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        request_headers: Headers = scope["headers"]
        given = dict(request_headers)
        rid = given.get(b"x-request-id") or uuid.uuid4().hex.encode()
        path: str = scope["path"]
        if path == "/":
            html = [(b"content-type", b"text/html; charset=utf-8"), (b"x-request-id", rid)]
            await respond(send, 200, html, landing_html)
            return
        service = route_for(path)
        if service is None or service not in pools:
            await problem(send, 404, "Not Found", "No route for this path.", "not_found", rid)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > ROUTER_MAX_BODY:
                detail = "The request body is larger than 1 MiB."
                await problem(send, 413, "Payload Too Large", detail, "payload_too_large", rid)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        host = given.get(b"host", b"")
        client = scope.get("client")
        headers = [(k, v) for k, v in request_headers if k not in NOT_FORWARDED]
        headers += [
            (b"host", host),
            (b"x-request-id", rid),
            (b"x-forwarded-for", (client[0] if client else "").encode()),
            (b"x-forwarded-proto", scope.get("scheme", "http").encode()),
            (b"x-forwarded-host", host),
        ]
        target = scope.get("raw_path") or path.encode()
        if scope.get("query_string"):
            target += b"?" + scope["query_string"]
        try:
            status, upstream_headers, body = await pools[service].request(
                scope["method"], target, headers, b"".join(chunks)
            )
        except UpstreamError:
            detail = "The upstream service did not answer."
            await problem(send, 502, "Bad Gateway", detail, "bad_gateway", rid)
            return
        out = [(k, v) for k, v in upstream_headers if k not in HOP_BY_HOP]
        if scope["method"] == "HEAD":
            declared = next((v for k, v in upstream_headers if k == b"content-length"), None)
            out.append((b"content-length", declared or b"0"))
            await send({"type": "http.response.start", "status": status, "headers": out})
            await send({"type": "http.response.body", "body": b""})
            return
        await respond(send, status, out, body)

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tessera_devstack.router")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--template", required=True)
    parser.add_argument("--auth", required=True)
    parser.add_argument("--users", required=True)
    args = parser.parse_args(argv)
    app = build_router_app(
        Path(args.template).read_text(), {"auth": args.auth, "users": args.users}
    )
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        server_header=False,
        date_header=False,  # the upstream's Date header is passed on
        access_log=False,
        backlog=2048,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
