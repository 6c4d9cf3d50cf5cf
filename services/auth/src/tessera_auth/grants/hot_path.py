"""``POST /api/v1/auth/refresh`` answered ahead of routing when it rotates.

Every client spends a refresh token each access-token lifetime, and profiled under load a
refresh spent most of its time in the dependency tree, the ORM's unit of work and
SQLAlchemy's async bridge rather than in its two statements and its signature
(docs/benchmarks.md). ``RefreshHotPath`` does the one common case, a live token rotated,
with the same statements (``LOCK_REFRESH_TOKEN_SQL``, ``ROTATE_SQL``) and the same rules
(``rotation_of``) in one transaction on a plain connection. Anything else (a body that is
not one small JSON object, a token that is unknown, spent, expired or revoked) is rolled
back and handed, body and all, to the route, which answers it as it always has: its errors,
reuse detection and revocation live in one place.
"""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tessera_auth.grants.router import NO_STORE
from tessera_auth.sessions.repository import (
    LOCK_REFRESH_TOKEN_SQL,
    ROTATE_SQL,
    LockedRefreshToken,
    rotate_parameters,
)
from tessera_auth.sessions.schemas import RefreshRequest
from tessera_auth.sessions.service import Rotation, rotated_pair, rotation_of
from tessera_auth.state import AuthState
from tessera_auth.tokens.schemas import TokenPair
from tessera_core.errors import DATABASE_UNREACHABLE, database_unreachable
from tessera_core.runtime import CoreState
from tessera_core.tokens import hash_opaque_token

__all__ = ["RefreshHotPath"]


class RefreshHotPath:
    """Rotate a live refresh token of ``POST route.path``; pass everything else on."""

    def __init__(self, app: ASGIApp, route: APIRoute) -> None:
        self.app = app
        self.route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != self.route.path:
            await self.app(scope, receive, send)
            return
        if not _declares_json_body(scope):
            await self.app(scope, receive, send)  # chunked or not JSON: the route's answer
            return
        body = await _read_body(receive)
        if body is None:
            return  # the client went away
        scope["route"] = self.route  # the metrics' and the log line's route label
        try:
            pair = await _rotate(body, scope["state"]["core"], scope["state"]["auth"])
        except DATABASE_UNREACHABLE as exc:
            await database_unreachable(exc)(scope, receive, send)
            return
        if pair is None:
            await self.app(scope, _replaying(body, receive), send)
            return
        response = Response(pair.model_dump_json(), media_type="application/json", headers=NO_STORE)
        await response(scope, receive, send)


async def _rotate(body: bytes, core: CoreState, auth: AuthState) -> TokenPair | None:
    """The next pair, committed; None when the token does not simply rotate."""
    try:
        presented = RefreshRequest.model_validate_json(body).refresh_token
    except ValidationError:
        return None
    pair = None
    # Pipeline mode: BEGIN goes out with the locking SELECT, and the rotation with COMMIT,
    # two round trips instead of four.
    async with core.read_pool.connection() as conn, conn.pipeline(), conn.transaction():
        cursor = await conn.execute(
            LOCK_REFRESH_TOKEN_SQL, {"token_hash": hash_opaque_token(presented)}
        )
        row = await cursor.fetchone()
        if row is None:
            raise psycopg.Rollback()
        token = LockedRefreshToken(**row)
        now = datetime.now(UTC)
        if rotation_of(token, now, core.settings) is not Rotation.ROTATE:
            raise psycopg.Rollback()
        pair, next_hash, expires_at = rotated_pair(auth.issuer, core.settings, token, now)
        await conn.execute(ROTATE_SQL, rotate_parameters(token, next_hash, expires_at, now))
    return pair


def _declares_json_body(scope: Scope) -> bool:
    """A ``Content-Length`` (the body limit has checked it) and a JSON content type."""
    length = content_type = None
    for name, value in scope["headers"]:
        if name == b"content-length":
            length = value
        elif name == b"content-type":
            content_type = value
    return (
        length is not None
        and content_type is not None
        and content_type.split(b";", 1)[0].strip().lower() == b"application/json"
    )


async def _read_body(receive: Receive) -> bytes | None:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """``receive`` for the route: the body already read, then the client's own messages."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
