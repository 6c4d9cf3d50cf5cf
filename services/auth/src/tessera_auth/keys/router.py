from __future__ import annotations

from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from tessera_auth.keys.keystore import KeyStore

__all__ = ["router"]

router = APIRouter(tags=["keys"])


class PublishedKeys(Protocol):
    """What these routes read of the service's state (``AuthState`` has it): typed here, so
    the keys, which the state is built from, need not import it."""

    @property
    def keys(self) -> KeyStore: ...

    @property
    def oauth_metadata(self) -> dict[str, Any]: ...


async def get_published_keys(request: Request) -> PublishedKeys:
    state: PublishedKeys = request.state.auth
    return state


PublishedKeysDep = Annotated[PublishedKeys, Depends(get_published_keys)]


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
async def jwks(auth: PublishedKeysDep) -> Response:
    """The public signing keys (RFC 7517): every key that may still have live tokens."""
    return JSONResponse(
        auth.keys.jwks(),
        headers={"Cache-Control": "public, max-age=300"},
        media_type="application/jwk-set+json",
    )


@router.get("/.well-known/oauth-authorization-server")
async def metadata(auth: PublishedKeysDep) -> dict[str, Any]:
    """Authorization server metadata (RFC 8414)."""
    return auth.oauth_metadata
