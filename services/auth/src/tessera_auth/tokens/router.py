"""``GET /api/v1/auth/verify``: forward-auth for the gateway, asked before every request it
forwards, so its cost is paid once per request to the whole platform: a ``LeanRoute``."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from tessera_core.errors import BEARER_ERRORS, problem_responses
from tessera_core.tokens import AccessClaims
from tessera_core.web.deps import CurrentClaims
from tessera_core.web.routing import LeanRoute

__all__ = ["identity_headers", "router"]

router = APIRouter(prefix="/api/v1/auth", tags=["gateway"], route_class=LeanRoute)


IDENTITY_HEADERS = {
    name: {"description": description, "schema": {"type": "string"}}
    for name, description in (
        ("X-Auth-User-Id", "the caller's user id (`sub`)"),
        ("X-Auth-Username", "the caller's username"),
        ("X-Auth-Roles", "comma-separated roles (`admin`), empty for none"),
        ("X-Auth-Session-Id", "the token's session id (`sid`)"),
    )
}


def identity_headers(claims: AccessClaims) -> dict[str, str]:
    """What the gateway copies onto the request it forwards."""
    return {
        "X-Auth-User-Id": claims.sub,
        "X-Auth-Username": claims.preferred_username,
        "X-Auth-Roles": ",".join(claims.roles),
        "X-Auth-Session-Id": claims.sid,
        "Cache-Control": "no-store",
    }


@router.get(
    "/verify",
    status_code=status.HTTP_200_OK,
    # An empty body: the answer is the status and the identity headers.
    response_class=Response,
    responses={
        200: {"description": "A valid token: no body", "headers": IDENTITY_HEADERS},
        **problem_responses(*BEARER_ERRORS),
    },
)
async def verify(claims: CurrentClaims) -> Response:
    """Forward-auth for the gateway: 200 with the caller's identity headers, else 401."""
    return Response(status_code=200, headers=identity_headers(claims))
