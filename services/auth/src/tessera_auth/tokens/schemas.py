from __future__ import annotations

from pydantic import BaseModel, Field, PrivateAttr

__all__ = ["ExchangeTokenResponse", "OAuthTokenResponse", "TokenPair"]


class TokenPair(BaseModel):
    """API.md's token pair (``/login``, ``/refresh``)."""

    access_token: str
    refresh_token: str
    token_type: str = "Bearer"
    expires_in: int
    refresh_expires_in: int
    # The access token's scopes, space-separated: its ``scope`` claim says it to resource
    # servers, and ``/token`` answers it (``OAuthTokenResponse``); API.md's pair does not.
    _scope: str = PrivateAttr(default="")

    @property
    def granted_scope(self) -> str:
        return self._scope

    def granting(self, scope: str) -> TokenPair:
        self._scope = scope
        return self


class OAuthTokenResponse(TokenPair):
    """RFC 6749 §5.1: the pair, with the scope it grants (which may be narrower than the
    one asked for, and always says what the access token may do)."""

    scope: str = Field(
        description="the access token's scopes, space-separated (RFC 6749 §3.3)",
        examples=["profile:read profile:write sessions:write"],
    )

    @classmethod
    def of(cls, pair: TokenPair) -> OAuthTokenResponse:
        return cls(**pair.model_dump(), scope=pair.granted_scope)


class ExchangeTokenResponse(BaseModel):
    """RFC 8693 §2.2.1: the access token a token exchange issues; no refresh token."""

    access_token: str
    issued_token_type: str = Field(
        description="what `access_token` is (RFC 8693 §3)",
        examples=["urn:ietf:params:oauth:token-type:access_token"],
    )
    token_type: str = "Bearer"
    expires_in: int
    scope: str = Field(
        description="the access token's scopes, space-separated (RFC 6749 §3.3)",
        examples=["profile:read"],
    )
