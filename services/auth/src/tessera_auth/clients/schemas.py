from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tessera_core.schemas import Text

__all__ = [
    "ClientCredentialsResponse",
    "SecretCreated",
    "SecretRead",
    "ServiceAccountCreate",
    "ServiceAccountCreated",
    "ServiceAccountKeys",
    "ServiceAccountRead",
]


class ServiceAccountCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1, max_length=100, examples=["billing sync"])
    scope: Text = Field(
        min_length=1,
        max_length=1024,
        description="space-separated: `users:read`, `users:write`, each held by the creating token",
        examples=["users:read"],
    )


class SecretRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    created_at: datetime


class SecretCreated(SecretRead):
    secret: str = Field(
        description="the client secret itself: shown in this answer only, never again",
        examples=["tsr_sas_KGOsHFJj4S19au0wlWWg8NGWeQvMws1C3Kh4"],
    )


class ServiceAccountRead(BaseModel):
    id: uuid.UUID = Field(description="the account's user id: the `sub` of its tokens")
    client_id: str
    name: str
    scope: str
    is_active: bool
    created_at: datetime
    created_by: uuid.UUID | None
    secrets: list[SecretRead] = Field(description="the live secrets (at most two), no values")
    jwks: dict[str, Any] | None = Field(
        default=None, description="the public keys registered for `private_key_jwt`"
    )


class ServiceAccountKeys(BaseModel):
    model_config = ConfigDict(extra="forbid")

    jwks: dict[str, Any] = Field(
        description="a JWK set of public RSA, EC or OKP keys (each with a `kid`): client "
        "assertions signed by one of them authenticate the account (`private_key_jwt`)",
        examples=[{"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1", "x": "...", "y": "..."}]}],
    )


class ServiceAccountCreated(ServiceAccountRead):
    secret: SecretCreated = Field(description="the first secret: shown in this answer only")


class ClientCredentialsResponse(BaseModel):
    """RFC 6749 §4.4.3: an access token and no refresh token."""

    access_token: str
    token_type: str = "Bearer"
    expires_in: int
    scope: str = Field(
        description="the access token's scopes, space-separated (RFC 6749 §3.3)",
        examples=["users:read"],
    )
