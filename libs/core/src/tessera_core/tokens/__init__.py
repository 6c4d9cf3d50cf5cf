"""Access-token verification shared by every service: JWKS cache, checks, revocation."""

from tessera_core.tokens.claims import AccessClaims
from tessera_core.tokens.jwks import (
    FileJWKSSource,
    HttpJWKSSource,
    JWKSCache,
    JWKSSource,
    StaticJWKSSource,
)
from tessera_core.tokens.verify import TokenVerifier

__all__ = [
    "AccessClaims",
    "FileJWKSSource",
    "HttpJWKSSource",
    "JWKSCache",
    "JWKSSource",
    "StaticJWKSSource",
    "TokenVerifier",
]
