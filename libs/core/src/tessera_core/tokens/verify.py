"""Verifies RFC 9068 access tokens: signature, algorithm, type, issuer, audience, time,
then revocation. The same code runs in every service and behind ``/verify``."""

from __future__ import annotations

import base64
import binascii
import json
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from joserfc import jws
from joserfc.errors import JoseError

from tessera_core.errors import InvalidToken
from tessera_core.ops.metrics import TOKEN_VERIFICATIONS
from tessera_core.tokens.claims import ACCESS_TOKEN_TYPE, AccessClaims
from tessera_core.tokens.jwks import JWKSCache, PublicKey
from tessera_core.tokens.pat import is_personal_token
from tessera_core.tokens.pat_verify import PersonalTokenVerifier

# Headers that would let a token name its own verification key: never trusted (RFC 8725 §3.10).
UNTRUSTED_HEADERS = frozenset({"jwk", "jku", "x5u", "x5c"})
ASYMMETRIC_ALGORITHMS = frozenset({"RS256", "ES256", "EdDSA"})
VALID_VERIFICATIONS = TOKEN_VERIFICATIONS.labels(result="valid")  # the hot path's child
# Tessera's own segments are a few hundred characters. Anything far larger is crafted
# (a header of `[` nested thousands deep exhausts the JSON parser's recursion): refused by
# length before any decoding.
MAX_HEADER_SEGMENT_CHARS = 1024
MAX_PAYLOAD_SEGMENT_CHARS = 8192
# Whatever a crafted segment makes the JSON parser raise is a malformed token.
PARSE_ERRORS = (binascii.Error, ValueError, UnicodeDecodeError, RecursionError)
# A client sends the same access token until it expires: its signature is checked once per
# worker, not once per request. Bounded; the oldest entry goes first.
VERIFIED_TOKENS_MAX = 4096

__all__ = [
    "ASYMMETRIC_ALGORITHMS",
    "MAX_HEADER_SEGMENT_CHARS",
    "MAX_PAYLOAD_SEGMENT_CHARS",
    "RevocationCheck",
    "TokenVerifier",
    "unverified_header",
]


class RevocationCheck(Protocol):
    """What the verifier asks last (``tessera_core.revocation.RevocationStore``)."""

    async def check(
        self, issuer: str, *, jti: str, sid: str, user_id: str, issued_at: int
    ) -> None: ...


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def unverified_header(token: str) -> dict[str, Any]:
    """The JOSE header, before any check; raises ``InvalidToken`` if unparseable or if a
    segment is longer than any token Tessera issues."""
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken("The token is not a signed JWT.")
    if len(parts[0]) > MAX_HEADER_SEGMENT_CHARS or len(parts[1]) > MAX_PAYLOAD_SEGMENT_CHARS:
        raise InvalidToken("The token is too large.")
    try:
        header = json.loads(_b64decode(parts[0]))
    except PARSE_ERRORS as exc:
        raise InvalidToken("The token header is malformed.") from exc
    if not isinstance(header, dict):
        raise InvalidToken("The token header is malformed.")
    return header


@dataclass(frozen=True, slots=True)
class _Verified:
    """A token whose signature checked out: the key that verified it, and what it says."""

    kid: str
    key: PublicKey
    payload: dict[str, Any]
    claims: AccessClaims


class TokenVerifier:
    """Verify an access token and return its claims.

    Args:
        jwks: the public keys, by ``kid``.
        revocation: the revocation store (one Redis round trip).
        issuer, audience: the values ``iss`` and ``aud`` must carry.
        algorithms: the deployment's allowed algorithms (asymmetric only; ``none`` and
            HMAC are never accepted whatever this says).
        leeway: seconds of clock skew tolerated on ``exp``, ``nbf`` and ``iat``.
        personal: resolves personal access tokens (``tsr_pat_…``); without it, they are
            refused like any string that is not a JWT.

    Example:
        >>> claims = await verifier.verify(token)  # doctest: +SKIP
        >>> claims.sub, claims.roles  # doctest: +SKIP
        ('6f1c…', [])
    """

    def __init__(
        self,
        *,
        jwks: JWKSCache,
        revocation: RevocationCheck,
        issuer: str,
        audience: str,
        algorithms: list[str],
        leeway: int = 30,
        clock: Callable[[], float] = time.time,
        personal: PersonalTokenVerifier | None = None,
    ) -> None:
        self.jwks = jwks
        self.personal = personal
        self.revocation = revocation
        self.issuer = issuer
        self.audience = audience
        self.algorithms = [a for a in algorithms if a in ASYMMETRIC_ALGORITHMS]
        self.leeway = leeway
        self.clock = clock
        self._verified: dict[str, _Verified] = {}

    async def verify(
        self, token: str, *, revocation: RevocationCheck | None = None
    ) -> AccessClaims:
        """Every check, revocation included (by ``revocation`` if given, else the shared
        store); raises ``InvalidToken``, ``TokenRevoked`` or ``RevocationUnavailable``.

        A personal access token goes through the same revocation check as a JWT (its id as
        ``jti``, its session as ``sid``, its creation as ``iat``), on every request."""
        personal = self.personal if is_personal_token(token) else None
        try:
            if personal is not None:
                claims = await personal.claims(token)
            else:
                claims = await self.verify_signed(token)
            await (revocation or self.revocation).check(
                claims.iss, jti=claims.jti, sid=claims.sid, user_id=claims.sub, issued_at=claims.iat
            )
        except Exception as exc:
            TOKEN_VERIFICATIONS.labels(result=getattr(exc, "code", "error")).inc()
            raise
        VALID_VERIFICATIONS.inc()
        if personal is not None:
            personal.record_use(claims)
        return claims

    async def verify_signed(self, token: str) -> AccessClaims:
        """Every check but revocation (for revoking a token, which may already be revoked).

        A token whose signature was verified before is not verified again while the key
        that verified it is still the one the key set holds for its ``kid`` (a rotated-out
        or refreshed key set checks it afresh); its times are checked on every call."""
        seen = self._verified.get(token)
        if seen is not None:
            if await self.jwks.get(seen.kid) is seen.key:
                self._check_registered_claims(seen.payload)
                return seen.claims
            del self._verified[token]
        verified = await self._verify_signature(token)
        if len(self._verified) >= VERIFIED_TOKENS_MAX:
            del self._verified[next(iter(self._verified))]
        self._verified[token] = verified
        return verified.claims

    async def _verify_signature(self, token: str) -> _Verified:
        header = unverified_header(token)
        alg, kid, typ = header.get("alg"), header.get("kid"), header.get("typ")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise InvalidToken("The token's algorithm is not allowed.")
        if not isinstance(typ, str) or typ.lower() not in {ACCESS_TOKEN_TYPE, "application/at+jwt"}:
            raise InvalidToken("The token is not an access token (typ must be at+jwt).")
        if UNTRUSTED_HEADERS & header.keys():
            raise InvalidToken("The token carries key-locating headers, which are not accepted.")
        if not isinstance(kid, str):
            raise InvalidToken("The token has no key id.")
        key = await self.jwks.get(kid)
        if key is None:
            raise InvalidToken("The token was signed by an unknown key.")
        if key.get("alg") != alg:
            raise InvalidToken("The token's algorithm does not match its key.")
        try:
            with warnings.catch_warnings():
                # joserfc warns on the JOSE name "EdDSA" (RFC 9864); API.md keeps that name.
                warnings.simplefilter("ignore")
                compact = jws.deserialize_compact(token, key, algorithms=[alg])
            payload = json.loads(compact.payload)
        except (JoseError, *PARSE_ERRORS) as exc:
            raise InvalidToken("The token signature is invalid.") from exc
        if not isinstance(payload, dict):
            raise InvalidToken("The token payload is malformed.")
        self._check_registered_claims(payload)
        try:
            return _Verified(kid, key, payload, AccessClaims.from_payload(payload))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidToken("The token lacks required claims.") from exc

    def _check_registered_claims(self, payload: dict[str, Any]) -> None:
        now = self.clock()
        if payload.get("iss") != self.issuer:
            raise InvalidToken("The token was issued by another issuer.")
        aud = payload.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        if self.audience not in audiences:
            raise InvalidToken("The token is meant for another audience.")
        exp, nbf, iat = payload.get("exp"), payload.get("nbf"), payload.get("iat")
        if not isinstance(exp, int | float) or exp + self.leeway < now:
            raise InvalidToken("The token has expired.")
        if nbf is not None and (not isinstance(nbf, int | float) or nbf - self.leeway > now):
            raise InvalidToken("The token is not valid yet.")
        if not isinstance(iat, int | float) or iat - self.leeway > now:
            raise InvalidToken("The token was issued in the future.")
