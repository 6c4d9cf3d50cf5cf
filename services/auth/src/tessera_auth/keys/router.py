from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from tessera_auth.deps import AuthStateDep

__all__ = ["router"]

router = APIRouter(tags=["keys"])


JWK_SET = {
    "type": "object",
    "properties": {"keys": {"type": "array", "items": {"type": "object"}}},
    "required": ["keys"],
}


@router.get(
    "/.well-known/jwks.json",
    response_class=Response,
    responses={
        200: {
            "description": "A JWK Set (RFC 7517 §5)",
            "content": {"application/jwk-set+json": {"schema": JWK_SET}},
        }
    },
)
async def jwks(auth: AuthStateDep) -> Response:
    """The public signing keys (RFC 7517): every key that may still have live tokens."""
    return JSONResponse(
        auth.keys.jwks(),
        headers={"Cache-Control": "public, max-age=300"},
        media_type="application/jwk-set+json",
    )


@router.get("/.well-known/oauth-authorization-server")
async def metadata(auth: AuthStateDep) -> dict[str, Any]:
    """Authorization server metadata (RFC 8414)."""
    return auth.oauth_metadata
