from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

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
    jwks_uri: str | None = Field(
        default=None,
        description="or the https URL that serves them, fetched when the client authenticates",
    )
    keys_registered: bool = Field(
        default=False,
        description="whether keys are registered (`jwks` or `jwks_uri`): `private_key_jwt` works",
    )


class ServiceAccountKeys(BaseModel):
    """Exactly one of `jwks` and `jwks_uri`."""

    model_config = ConfigDict(extra="forbid")

    jwks: dict[str, Any] | None = Field(
        default=None,
        description="a JWK set of public RSA, EC or OKP keys (each with a `kid`): client "
        "assertions signed by one of them authenticate the account (`private_key_jwt`)",
        examples=[{"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1", "x": "...", "y": "..."}]}],
    )
    jwks_uri: Text | None = Field(
        default=None,
        max_length=2048,
        description="or an https URL serving such a set, fetched now to check it and then "
        "when the client authenticates (cached per worker; refetched when an assertion names "
        "an unknown `kid`); redirects are not followed",
        examples=["https://billing.example.com/.well-known/jwks.json"],
    )

    @model_validator(mode="after")
    def _one_source(self) -> ServiceAccountKeys:
        if (self.jwks is None) == (self.jwks_uri is None):
            raise ValueError("send exactly one of jwks and jwks_uri")
        return self


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
