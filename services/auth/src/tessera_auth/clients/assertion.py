"""``private_key_jwt`` (RFC 7523 §2.2, OpenID Connect Core §9): a client assertion signed
by a key registered on the service account. Checked with joserfc: an asymmetric ``alg``
only, ``iss`` = ``sub`` = the ``client_id``, ``aud`` the token endpoint or the issuer,
``exp`` required and at most ``MAX_ASSERTION_SECONDS`` ahead, ``jti`` spent once (Redis
``SET NX`` until ``exp``)."""

from __future__ import annotations

import json
import time
import warnings
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from redis.exceptions import RedisError

from tessera_auth.keys.metadata import ASSERTION_ALGORITHMS
from tessera_core.db.redis_client import RedisClient
from tessera_core.errors import OAuthError
from tessera_core.outbound import OutboundClient

__all__ = [
    "ASSERTION_ALGORITHMS",
    "CLIENT_ASSERTION_TYPE",
    "MAX_ASSERTION_SECONDS",
    "asserted_client_id",
    "asserted_kid",
    "fetch_key_set",
    "has_kid",
    "invalid_assertion",
    "public_key_set",
    "verify_assertion",
]

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# A captured assertion is worth little for long, and its jti is remembered until exp.
MAX_ASSERTION_SECONDS = 300
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_KEY_TYPES = frozenset({"RSA", "EC", "OKP"})


def invalid_assertion(description: str) -> OAuthError:
    """RFC 6749 §5.2 ``invalid_client``, 401 (no ``Basic`` challenge: the client did not
    use the Authorization header)."""
    return OAuthError("invalid_client", description, status=401)


def public_key_set(jwks: dict[str, Any]) -> KeySet:
    """The key set to register, or ``ValueError``: public asymmetric keys only (a private
    member or a symmetric key here would be a secret stored in the clear)."""
    keys = jwks.get("keys")
    if not isinstance(keys, list) or not keys:
        raise ValueError("a JWK set is an object with a non-empty 'keys' array")
    for key in keys:
        if not isinstance(key, dict) or key.get("kty") not in _KEY_TYPES:
            raise ValueError("only RSA, EC and OKP public keys are accepted")
        if _PRIVATE_MEMBERS & key.keys():
            raise ValueError("register the public key only: a private member was sent")
    try:
        return KeySet.import_key_set(jwks)  # type: ignore[arg-type]
    except (JoseError, ValueError, TypeError) as exc:
        raise ValueError(f"not a usable JWK set: {exc}") from exc


async def fetch_key_set(outbound: OutboundClient, url: str) -> KeySet:
    """The key set a ``jwks_uri`` serves, held to ``public_key_set``'s rules; the outbound
    client's errors when it cannot be fetched, ``ValueError`` when it is not such a set."""
    document = await outbound.get_json(url)
    if not isinstance(document, dict):
        raise ValueError("a JWK set is an object with a non-empty 'keys' array")
    return public_key_set(document)


def has_kid(keys: KeySet, kid: str | None) -> bool:
    """Whether ``keys`` may hold the key an assertion names: an assertion without a ``kid``
    is checked against what is held (a refetch would not tell which key it needs)."""
    return kid is None or any(key.kid == kid for key in keys.keys)


def asserted_kid(assertion: str) -> str | None:
    """The ``kid`` of an assertion's header, unchecked: it says whether the held key set can
    verify it or a fresher one is needed."""
    try:
        kid = jws.extract_compact(assertion.encode()).headers().get("kid")
    except (JoseError, ValueError):
        return None
    return kid if isinstance(kid, str) else None


def asserted_client_id(assertion: str) -> str:
    """The ``iss`` an assertion claims, read before any check: it names the keys to check
    the signature with. Nothing read here is trusted."""
    try:
        compact = jws.extract_compact(assertion.encode())
        claims = json.loads(compact.payload)
    except (JoseError, ValueError) as exc:
        raise invalid_assertion("The client assertion is not a JWT.") from exc
    issuer = claims.get("iss") if isinstance(claims, dict) else None
    if not isinstance(issuer, str) or not issuer:
        raise invalid_assertion("The client assertion names no issuer (iss).")
    return issuer


async def verify_assertion(
    assertion: str,
    *,
    client_id: str,
    keys: KeySet,
    audiences: frozenset[str],
    redis: RedisClient,
) -> None:
    """Check a client assertion for ``client_id`` against its registered ``keys``;
    ``invalid_client`` for anything wrong, replays included."""
    try:
        with warnings.catch_warnings():
            # joserfc warns on the JOSE name "EdDSA" (RFC 9864); clients still send it.
            warnings.simplefilter("ignore")
            token = jwt.decode(assertion, keys, algorithms=list(ASSERTION_ALGORITHMS))
    except (JoseError, ValueError) as exc:
        raise invalid_assertion("The client assertion's signature does not verify.") from exc
    claims = token.claims
    now = int(time.time())
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise invalid_assertion("iss and sub must both be the client_id.")
    audience = claims.get("aud")
    named = {audience} if isinstance(audience, str) else set(audience or [])
    if not named & audiences:
        raise invalid_assertion("aud must be the token endpoint or the issuer.")
    expires = claims.get("exp")
    if not isinstance(expires, int) or isinstance(expires, bool) or expires <= now:
        raise invalid_assertion("The client assertion has expired or has no exp.")
    if expires > now + MAX_ASSERTION_SECONDS:
        raise invalid_assertion(
            f"The client assertion lives too long: exp at most {MAX_ASSERTION_SECONDS} s ahead."
        )
    not_before = claims.get("nbf")
    if isinstance(not_before, int) and not_before > now + 30:
        raise invalid_assertion("The client assertion is not valid yet (nbf).")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > 256:
        raise invalid_assertion("The client assertion needs a jti.")
    try:
        first = await redis.set(
            f"tessera:assertion-jti:{client_id}:{jti}", "1", nx=True, ex=expires - now + 1
        )
    except RedisError as exc:
        raise OAuthError(
            "temporarily_unavailable", "Client assertions cannot be checked now.", status=503
        ) from exc
    if not first:
        raise invalid_assertion("This client assertion was already used (jti).")
