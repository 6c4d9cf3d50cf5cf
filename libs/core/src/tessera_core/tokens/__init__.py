"""Access-token verification shared by every service: JWKS cache, checks, revocation;
the opaque tokens kept only as hashes; and the signing keys ``tessera keys`` writes
(``keygen``)."""

from tessera_core.tokens.claims import AccessClaims
from tessera_core.tokens.jwks import (
    FileJWKSSource,
    HttpJWKSSource,
    JWKSCache,
    JWKSSource,
    StaticJWKSSource,
)
from tessera_core.tokens.opaque import hash_opaque_token, new_opaque_token
from tessera_core.tokens.verify import TokenVerifier

__all__ = [
    "AccessClaims",
    "FileJWKSSource",
    "HttpJWKSSource",
    "JWKSCache",
    "JWKSSource",
    "StaticJWKSSource",
    "TokenVerifier",
    "hash_opaque_token",
    "new_opaque_token",
]
