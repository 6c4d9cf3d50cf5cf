"""``GET /api/v1/auth/verify``: forward-auth for the gateway, asked before every request it
forwards, so its cost is paid once per request to the whole platform: a ``LeanRoute``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from tessera_core.errors import BEARER_ERRORS, InsufficientScope, problem_responses
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
        ("X-Auth-Scope", "the token's scopes, space-separated (RFC 9068 `scope`)"),
    )
}


def identity_headers(claims: AccessClaims) -> dict[str, str]:
    """What the gateway copies onto the request it forwards."""
    return {
        "X-Auth-User-Id": claims.sub,
        "X-Auth-Username": claims.preferred_username,
        "X-Auth-Roles": ",".join(claims.roles),
        "X-Auth-Session-Id": claims.sid,
        "X-Auth-Scope": claims.scope,
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
async def verify(
    claims: CurrentClaims,
    scope: Annotated[
        str | None,
        Query(
            max_length=100,
            description="a scope the token must hold, else 403 `insufficient_scope`",
            examples=["users:read"],
        ),
    ] = None,
) -> Response:
    """Forward-auth for the gateway: 200 with the caller's identity headers, else 401 (or
    403 when the token lacks the `scope` asked for)."""
    if scope is not None and scope not in claims.scopes:
        raise InsufficientScope(scope)
    return Response(status_code=200, headers=identity_headers(claims))
