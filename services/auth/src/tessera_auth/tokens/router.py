from __future__ import annotations

from fastapi import APIRouter, Response, status
from fastapi.routing import APIRoute

from tessera_auth.tokens.forward_auth import identity_headers
from tessera_core.deps import CurrentClaims
from tessera_core.errors import BEARER_ERRORS, problem_responses

router = APIRouter(prefix="/api/v1/auth", tags=["gateway"])
VERIFY_PATH = "/api/v1/auth/verify"


IDENTITY_HEADERS = {
    name: {"description": description, "schema": {"type": "string"}}
    for name, description in (
        ("X-Auth-User-Id", "the caller's user id (`sub`)"),
        ("X-Auth-Username", "the caller's username"),
        ("X-Auth-Roles", "comma-separated roles (`admin`), empty for none"),
        ("X-Auth-Session-Id", "the token's session id (`sid`)"),
    )
}


@router.get(
    VERIFY_PATH.removeprefix(router.prefix),
    status_code=status.HTTP_200_OK,
    # An empty body: the answer is the status and the identity headers.
    response_class=Response,
    responses={
        200: {"description": "A valid token: no body", "headers": IDENTITY_HEADERS},
        **problem_responses(*BEARER_ERRORS),
    },
)
async def verify(claims: CurrentClaims) -> Response:
    """Forward-auth for the gateway: 200 with the caller's identity headers, else 401.
    A ``GET`` is answered by ``forward_auth`` (a ``HotPath``) before it gets here."""
    return Response(status_code=200, headers=identity_headers(claims))


verify_route = next(r for r in router.routes if isinstance(r, APIRoute) and r.path == VERIFY_PATH)
