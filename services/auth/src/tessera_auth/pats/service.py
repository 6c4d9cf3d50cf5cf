"""Personal access tokens: create (shown once), list, revoke one; and the token exchange
(RFC 8693) that trades one for a short access token. Each token owns a login session, so
its revocation is a session's, and whatever ends every session of its user ends it too."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog

from tessera_auth.client import ClientInfo
from tessera_auth.pats.errors import ExpiryTooLong, InvalidScope, PersonalTokenNotFound
from tessera_auth.sessions.repository import LoginSessionRepository
from tessera_auth.sessions.service import existing_user
from tessera_auth.tokens.issuer import AccessTokenIssuer, TokenSubject
from tessera_core.accounts.audit import audit_after_commit
from tessera_core.accounts.repository import UserRepository
from tessera_core.db.models import PersonalAccessToken, User
from tessera_core.errors import InvalidToken, OAuthError, TokenRevoked
from tessera_core.mail import AccountMail
from tessera_core.ops.metrics import AUTH_TOKENS_ISSUED
from tessera_core.revocation import Revocations
from tessera_core.settings import Settings
from tessera_core.tokens import AccessClaims, TokenVerifier
from tessera_core.tokens.pat import (
    hash_personal_token,
    is_personal_token,
    new_personal_token,
    well_formed_personal_token,
)
from tessera_core.tokens.pat_repository import PersonalTokenRepository
from tessera_core.tokens.pat_verify import PAT_AMR, PAT_CLIENT_ID
from tessera_core.tokens.scopes import delegated, format_scope, narrowed

__all__ = [
    "ACCESS_TOKEN_TYPE_URN",
    "TOKEN_EXCHANGE",
    "ExchangedToken",
    "NewPersonalToken",
    "create",
    "exchange",
    "list_for_admin",
    "list_own",
    "revoke_for_admin",
    "revoke_own",
    "revoke_presented",
]

log = structlog.get_logger("tessera.pats")

# RFC 8693 §2.1 and §3.
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE_URN = "urn:ietf:params:oauth:token-type:access_token"


@dataclass(frozen=True)
class NewPersonalToken:
    """A token just created: its row, and the token itself (never stored)."""

    row: PersonalAccessToken
    token: str


async def create(
    tokens: PersonalTokenRepository,
    sessions: LoginSessionRepository,
    mail: AccountMail,
    settings: Settings,
    holder: AccessClaims,
    user: User,
    client: ClientInfo,
    *,
    name: str,
    scope: str,
    expires_in_days: int,
) -> NewPersonalToken:
    """A new token of ``user``'s, with its session; the owner is mailed."""
    try:
        scopes = delegated(scope, holder.scopes, to="a personal access token")
    except ValueError as exc:
        raise InvalidScope(f"{exc}.") from exc
    if expires_in_days > settings.pat_max_days:
        raise ExpiryTooLong(settings.pat_max_days)
    expires_at = datetime.now(UTC) + timedelta(days=expires_in_days)
    login = await sessions.create(
        user_id=user.id,
        client_id=PAT_CLIENT_ID,
        expires_at=expires_at,
        user_agent=client.user_agent,
        ip=client.ip,
        amr=PAT_AMR,
        scope=format_scope(scopes),
    )
    token = new_personal_token()
    row = await tokens.add(
        user_id=user.id,
        session_id=login.id,
        name=name,
        token_hash=hash_personal_token(token),
        scope=format_scope(scopes),
        expires_at=expires_at,
    )
    await mail.personal_token_created(user, name, row.scope, row.expires_at)
    AUTH_TOKENS_ISSUED.labels(kind="personal").inc()
    audit_after_commit(
        tokens.session, "personal_token_created", user_id=str(user.id), pat_id=str(row.id)
    )
    return NewPersonalToken(row, token)


async def list_own(
    tokens: PersonalTokenRepository, user_id: uuid.UUID
) -> Sequence[PersonalAccessToken]:
    return await tokens.live_for_user(user_id)


async def revoke_own(
    tokens: PersonalTokenRepository,
    revocations: Revocations,
    mail: AccountMail,
    user: User,
    token_id: uuid.UUID,
) -> None:
    """Revoke one of the caller's tokens: refused at once by every service."""
    row = await tokens.live_for_user_by_id(token_id, user.id)
    if row is None:
        raise PersonalTokenNotFound("No live personal access token of yours has this id.")
    revoked = await revocations.revoke_session(row.session_id, reason="pat_revoked_by_user")
    # Two revocations of one token at once: the one that revoked it tells the owner.
    if revoked.count:
        await mail.personal_token_revoked(user, row.name, by="from your account")
        audit_after_commit(
            tokens.session, "personal_token_revoked", user_id=str(user.id), pat_id=str(token_id)
        )


async def revoke_presented(
    tokens: PersonalTokenRepository,
    users: UserRepository,
    revocations: Revocations,
    mail: AccountMail,
    token: str,
) -> bool:
    """RFC 7009 for a personal access token: whoever holds it may revoke it (a secret
    scanner that found it, the script's owner); the owner is told. False for a string that
    is not a live token of this server (answered 200 all the same, §2.2)."""
    if not well_formed_personal_token(token):
        return False
    row = await tokens.find(hash_personal_token(token))
    if row is None or row.session_revoked_at is not None:
        return False
    revoked = await revocations.revoke_session(row.session_id, reason="pat_revoked_by_holder")
    user = await users.get(row.user_id)
    if revoked.count and user is not None:
        await mail.personal_token_revoked(
            user, row.name, by="by someone who presented it for revocation (it may have leaked)"
        )
        audit_after_commit(
            tokens.session, "personal_token_revoked", user_id=str(row.user_id), pat_id=str(row.id)
        )
    return True


async def list_for_admin(
    users: UserRepository, tokens: PersonalTokenRepository, actor_id: str, user_id: uuid.UUID
) -> Sequence[PersonalAccessToken]:
    """Another user's tokens (not revoked), as an administrator sees them."""
    await existing_user(users, user_id)
    found = await tokens.live_for_user(user_id)
    log.info(
        "admin_personal_tokens_listed", actor_id=actor_id, user_id=str(user_id), count=len(found)
    )
    return found


async def revoke_for_admin(
    users: UserRepository,
    tokens: PersonalTokenRepository,
    revocations: Revocations,
    mail: AccountMail,
    actor_id: str,
    user_id: uuid.UUID,
    token_id: uuid.UUID,
) -> None:
    """``revoke_own`` for an administrator: the same revocation, under another reason; the
    owner is told an administrator did it."""
    user = await existing_user(users, user_id)
    row = await tokens.live_for_user_by_id(token_id, user_id)
    if row is None:
        raise PersonalTokenNotFound("This user has no live personal access token with this id.")
    revoked = await revocations.revoke_session(row.session_id, reason="pat_revoked_by_admin")
    if not revoked.count:
        return
    await mail.personal_token_revoked(user, row.name, by="by an administrator")
    audit_after_commit(
        tokens.session,
        "admin_personal_token_revoked",
        actor_id=actor_id,
        user_id=str(user_id),
        pat_id=str(token_id),
    )


@dataclass(frozen=True)
class ExchangedToken:
    access_token: str
    expires_in: int
    scope: str


async def exchange(
    verifier: TokenVerifier,
    issuer: AccessTokenIssuer,
    *,
    subject_token: str,
    subject_token_type: str,
    requested_token_type: str | None,
    scope: str | None,
) -> ExchangedToken:
    """RFC 8693 token exchange: a live personal access token for a short access token of
    its session (``sid``), so revoking the personal token revokes what it was exchanged
    for. ``scope`` narrows; the JWT never outlives the token nor proves a login (no
    ``auth_time``). Only personal access tokens are exchanged: a JWT exchanged for a JWT
    would be an access token that renews itself.

    RFC 8693 §2.2.2 answers an invalid or unacceptable subject token ``invalid_request``."""
    if subject_token_type != ACCESS_TOKEN_TYPE_URN:
        raise OAuthError("invalid_request", f"subject_token_type must be {ACCESS_TOKEN_TYPE_URN}")
    if requested_token_type not in (None, ACCESS_TOKEN_TYPE_URN):
        raise OAuthError("invalid_request", "only access tokens are issued by this exchange")
    if not is_personal_token(subject_token):
        raise OAuthError(
            "invalid_request", "subject_token must be a personal access token (tsr_pat_...)"
        )
    try:
        claims = await verifier.verify(subject_token)
    except (InvalidToken, TokenRevoked) as exc:
        raise OAuthError("invalid_request", f"subject_token: {exc.detail}") from exc
    scopes = narrowed(scope, claims.scopes)
    if not scopes:
        raise OAuthError("invalid_scope", "The requested scope exceeds the subject token's.")
    now = datetime.now(UTC)
    subject = TokenSubject(
        user_id=uuid.UUID(claims.sub),
        username=claims.preferred_username,
        is_admin=claims.is_admin,
        email_verified=claims.email_verified,
        session_id=uuid.UUID(claims.sid),
        client_id=claims.client_id,
        session_started=None,
        amr=claims.amr,
        scope=format_scope(scopes),
    )
    ttl = min(issuer.settings.access_token_ttl_seconds, claims.exp - int(now.timestamp()))
    token = issuer.issue(subject, now, ttl_seconds=ttl)
    AUTH_TOKENS_ISSUED.labels(kind="access").inc()
    return ExchangedToken(token, ttl, format_scope(subject.scopes))
