"""``GET /api/v1/auth/verify``, answered ahead of routing (``tessera_core.hot_path``).

The gateway asks ``/verify`` before every request it forwards, so its cost is paid once
per request to the whole platform. The route in ``tokens.router`` answers the same for the
OpenAPI document and every other method.
"""

from __future__ import annotations

from starlette.responses import Response
from starlette.types import Scope

from tessera_core.deps import verified_claims
from tessera_core.hot_path import bearer_token, core_of
from tessera_core.tokens import AccessClaims

__all__ = ["forward_auth", "identity_headers"]


def identity_headers(claims: AccessClaims) -> dict[str, str]:
    """What the gateway copies onto the request it forwards."""
    return {
        "X-Auth-User-Id": claims.sub,
        "X-Auth-Username": claims.preferred_username,
        "X-Auth-Roles": ",".join(claims.roles),
        "X-Auth-Session-Id": claims.sid,
        "Cache-Control": "no-store",
    }


async def forward_auth(scope: Scope) -> Response:
    claims = await verified_claims(bearer_token(scope), core_of(scope))
    return Response(headers=identity_headers(claims))
