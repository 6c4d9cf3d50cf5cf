"""``private_key_jwt`` (RFC 7523) for service accounts: registering the public keys, as a
JWK set or as the URL that serves one (``jwks_uri``), and the client credentials grant for
a client that authenticates with an assertion signed by one of them
(docs/service-accounts.md).

Keys registered by URL are fetched through ``tessera_core.outbound`` (resolved addresses
checked at each fetch, no redirects, a size cap) and held per worker in a
``FetchedCache``: ``TESSERA_JWKS_URI_CACHE_SECONDS``, refetched at once when an assertion
names a ``kid`` the held set lacks but at most once per
``TESSERA_JWKS_URI_REFETCH_MIN_INTERVAL_SECONDS``; a failed fetch keeps the held set."""

from __future__ import annotations

import uuid
from typing import Any

from joserfc.jwk import KeySet

from tessera_auth.client import ClientInfo
from tessera_auth.clients.assertion import (
    asserted_client_id,
    asserted_kid,
    has_kid,
    invalid_assertion,
    public_key_set,
    verify_assertion,
)
from tessera_auth.clients.errors import (
    InvalidJwks,
    InvalidJwksUri,
    JwksUriUnreachable,
    ServiceAccountNotFound,
)
from tessera_auth.clients.repository import (
    ClientRow,
    ServiceAccountRepository,
    ServiceAccountView,
)
from tessera_auth.clients.service import IssuedToken, credential_session, mint
from tessera_auth.sessions.repository import LoginSessionRepository
from tessera_auth.tokens.issuer import AccessTokenIssuer
from tessera_core.accounts.audit import audit_after_commit
from tessera_core.db.redis_client import RedisClient
from tessera_core.outbound import FetchedCache, FetchUnavailable, OutboundFailed, OutboundRefused
from tessera_core.outbound.rules import url_refusal
from tessera_core.revocation import Revocations
from tessera_core.settings import Settings
from tessera_core.tokens import AccessClaims

__all__ = ["PRIVATE_KEY_AMR", "ClientKeySets", "issue_for_assertion", "set_keys"]

# RFC 8176 names no value for a client's key; this one says how the session was proved.
PRIVATE_KEY_AMR = ("private_key",)
# The key sets fetched from service accounts' jwks_uri, per worker (built in the lifespan).
ClientKeySets = FetchedCache[KeySet]


async def _checked_uri_keys(url: str, key_sets: ClientKeySets, settings: Settings) -> KeySet:
    """The key set ``url`` serves now, or 422: a URL that may not be registered
    (``invalid_jwks_uri``), one that gives no answer (``jwks_uri_unreachable``), one that
    answers something other than a JWK set of public keys (``invalid_jwks``)."""
    refusal = url_refusal(url, allow_loopback_http=settings.env in ("dev", "test"))
    if refusal is not None:
        raise InvalidJwksUri(f"jwks_uri: {refusal}.")
    try:
        return await key_sets.load(url)
    except (OutboundRefused, OutboundFailed) as exc:
        raise JwksUriUnreachable(f"jwks_uri could not be fetched: {exc}.") from exc
    except ValueError as exc:
        raise InvalidJwks(f"jwks_uri does not serve a usable JWK set: {exc}.") from exc


async def set_keys(
    accounts: ServiceAccountRepository,
    sessions: LoginSessionRepository,
    revocations: Revocations,
    admin: AccessClaims,
    client: ClientInfo,
    account_id: uuid.UUID,
    *,
    jwks: dict[str, Any] | None,
    jwks_uri: str | None,
    key_sets: ClientKeySets,
    settings: Settings,
) -> ServiceAccountView:
    """Register the public keys for ``private_key_jwt``, a set or its URL (fetched now, once,
    to check it), replacing whichever was registered before: the tokens the old keys
    obtained are revoked with their session, and a new session starts."""
    if jwks_uri is not None:
        keys = await _checked_uri_keys(jwks_uri, key_sets, settings)
    else:
        try:
            keys = public_key_set(jwks or {})
        except ValueError as exc:
            raise InvalidJwks(str(exc)) from exc
    account = await accounts.lock(account_id)
    if account is None:
        raise ServiceAccountNotFound("No service account has this id.")
    if account.key_session_id is not None:
        await revocations.revoke_session(account.key_session_id, reason="service_keys_replaced")
    login = await credential_session(sessions, account, client, PRIVATE_KEY_AMR)
    account.jwks, account.jwks_uri = (None, jwks_uri) if jwks_uri is not None else (jwks, None)
    account.key_session_id = login.id
    await accounts.session.flush()
    audit_after_commit(
        accounts.session,
        "service_keys_set",
        actor_id=admin.sub,
        service_account_id=str(account_id),
        kids=[key.kid for key in keys.keys],
        jwks_uri=jwks_uri,
    )
    return await accounts.view(account)


async def _keys_of(client: ClientRow, key_sets: ClientKeySets, kid: str | None) -> KeySet:
    if client.jwks_uri is not None:
        try:
            return await key_sets.get(client.jwks_uri, accept=lambda keys: has_kid(keys, kid))
        except FetchUnavailable as exc:
            raise invalid_assertion("The client's keys could not be fetched.") from exc
    try:
        return public_key_set(client.jwks or {})
    except ValueError as exc:
        raise invalid_assertion("The client's registered keys are not usable.") from exc


async def issue_for_assertion(
    accounts: ServiceAccountRepository,
    issuer: AccessTokenIssuer,
    redis: RedisClient,
    key_sets: ClientKeySets,
    *,
    assertion: str,
    client_id: str | None,
    scope: str | None,
) -> IssuedToken:
    """RFC 7523 §2.2: ``service.issue`` for a client that authenticates with a JWT signed by
    a registered key (``private_key_jwt``); its tokens carry the keys' session."""
    asserted = asserted_client_id(assertion)
    if client_id is not None and client_id != asserted:
        raise invalid_assertion("client_id and the assertion's iss differ.")
    client = await accounts.find_key_client(asserted)
    if client is None:
        raise invalid_assertion("No active service account with registered keys has this id.")
    keys = await _keys_of(client, key_sets, asserted_kid(assertion))
    settings = issuer.settings
    await verify_assertion(
        assertion,
        client_id=client.client_id,
        keys=keys,
        audiences=frozenset({f"{settings.base_url}/api/v1/auth/token", settings.issuer}),
        redis=redis,
    )
    return mint(issuer, client, scope, PRIVATE_KEY_AMR)
