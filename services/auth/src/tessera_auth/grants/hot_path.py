"""``POST /api/v1/auth/refresh`` answered ahead of routing when it rotates
(``tessera_core.hot_path``).

Every client spends a refresh token each access-token lifetime, and profiled under load a
refresh spent most of its time in the dependency tree, the ORM's unit of work and
SQLAlchemy's async bridge rather than in its two statements and its signature
(docs/benchmarks.md). ``rotate_refresh`` does the one common case, a live token rotated,
with the same statements (``LOCK_REFRESH_TOKEN_SQL``, ``ROTATE_SQL``) and the same rules
(``rotation_of``) in one transaction on a plain connection. Anything else (a body that is
not one JSON object of the request's shape, a token that is unknown, spent, expired or
revoked) is rolled back and handed to the route, which answers it as it always has: its
errors, reuse detection and revocation live in one place.
"""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg
from pydantic import ValidationError
from starlette.responses import Response
from starlette.types import Scope

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
from tessera_core.hot_path import core_of
from tessera_core.runtime import CoreState
from tessera_core.tokens import hash_opaque_token

__all__ = ["rotate_refresh"]


async def rotate_refresh(scope: Scope, body: bytes) -> Response | None:
    if not _declares_json(scope):
        return None
    try:
        presented = RefreshRequest.model_validate_json(body).refresh_token
    except ValidationError:
        return None
    pair = await _rotate(presented, core_of(scope), scope["state"]["auth"])
    if pair is None:
        return None
    return Response(pair.model_dump_json(), media_type="application/json", headers=NO_STORE)


async def _rotate(presented: str, core: CoreState, auth: AuthState) -> TokenPair | None:
    """The next pair, committed; None when the token does not simply rotate."""
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


def _declares_json(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            media_type: bytes = value.split(b";", 1)[0].strip().lower()
            return media_type == b"application/json"
    return False
