"""Login sessions: start, rotate, list and end."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from enum import Enum

import structlog

from tessera_auth.client import ClientInfo
from tessera_auth.sessions.errors import (
    InvalidRefreshToken,
    RefreshTokenReused,
    SessionNotFound,
    UserNotFound,
)
from tessera_auth.sessions.repository import (
    LoginSessionRepository,
    RefreshTokenRow,
)
from tessera_auth.tokens.issuer import AccessTokenIssuer, TokenSubject
from tessera_auth.tokens.schemas import TokenPair
from tessera_core.accounts.audit import audit_after_commit
from tessera_core.accounts.repository import UserRepository
from tessera_core.db.models import LoginSession, User
from tessera_core.errors import OAuthError
from tessera_core.ops.metrics import AUTH_REFRESH_REUSE, AUTH_TOKENS_ISSUED
from tessera_core.revocation import Revocations, RevocationStore
from tessera_core.settings import Settings
from tessera_core.tokens import AccessClaims, hash_opaque_token, new_opaque_token
from tessera_core.tokens.scopes import format_scope

__all__ = [
    "Rotation",
    "end",
    "end_all_for_admin",
    "end_one",
    "end_one_for_admin",
    "existing_user",
    "list_active",
    "list_active_for_admin",
    "rotate",
    "rotation_of",
    "start",
]

log = structlog.get_logger("tessera.sessions")


def _next_refresh_token(
    settings: Settings, session_expires: datetime, now: datetime
) -> tuple[str, bytes, datetime]:
    """A new refresh token of a session: the token, its hash and when it expires."""
    refresh, refresh_hash = new_opaque_token()
    expires = min(now + timedelta(seconds=settings.refresh_token_ttl_seconds), session_expires)
    return refresh, refresh_hash, expires


def _pair(
    issuer: AccessTokenIssuer,
    settings: Settings,
    subject: TokenSubject,
    now: datetime,
    refresh: str,
    refresh_expires: datetime,
) -> TokenPair:
    access = issuer.issue(subject, now)
    AUTH_TOKENS_ISSUED.labels(kind="access").inc()
    AUTH_TOKENS_ISSUED.labels(kind="refresh").inc()
    return TokenPair(
        access_token=access,
        refresh_token=refresh,
        expires_in=settings.access_token_ttl_seconds,
        refresh_expires_in=int((refresh_expires - now).total_seconds()),
    ).granting(format_scope(subject.scopes))


async def start(
    sessions: LoginSessionRepository,
    issuer: AccessTokenIssuer,
    settings: Settings,
    user: User,
    client: ClientInfo,
    amr: tuple[str, ...] = ("pwd",),
    scope: str | None = None,
) -> TokenPair:
    """A new login session for ``user``, proved by ``amr`` (RFC 8176), and its first pair;
    narrowed to ``scope`` if given (kept by every refresh), else holding all its roles allow."""
    now = datetime.now(UTC)
    login = await sessions.create(
        user_id=user.id,
        client_id=client.client_id,
        expires_at=now + timedelta(seconds=settings.session_max_age_seconds),
        user_agent=client.user_agent,
        ip=client.ip,
        amr=amr,
        scope=scope,
    )
    refresh, refresh_hash, refresh_expires = _next_refresh_token(settings, login.expires_at, now)
    await sessions.add_refresh_token(login, refresh_hash, refresh_expires)
    subject = TokenSubject.of(user, login)
    return _pair(issuer, settings, subject, now, refresh, refresh_expires)


class Rotation(Enum):
    """What presenting a locked refresh token comes to."""

    ROTATE = "rotate"
    SESSION_REVOKED = "session_revoked"
    REUSED = "reused"
    EXPIRED = "expired"
    ACCOUNT_INACTIVE = "account_inactive"


def rotation_of(token: RefreshTokenRow, now: datetime, settings: Settings) -> Rotation:
    """The refresh rules, in the order they apply. A spent token presented again after the
    grace window is reuse (RFC 9700 §4.14.2): its whole session is revoked. Reuse is told
    even when the session is already revoked (by an earlier reuse, a logout), so every
    loser of a race on one token hears the same answer; that revocation adds nothing."""
    grace = settings.refresh_reuse_grace_seconds
    if token.spent_at is not None and (now - token.spent_at).total_seconds() > grace:
        return Rotation.REUSED
    if token.session_revoked_at is not None:
        return Rotation.SESSION_REVOKED
    if token.expires_at <= now or token.session_expires_at <= now:
        return Rotation.EXPIRED
    if not token.is_active:
        return Rotation.ACCOUNT_INACTIVE
    return Rotation.ROTATE


async def rotate(
    sessions: LoginSessionRepository,
    issuer: AccessTokenIssuer,
    revocations: RevocationStore,
    settings: Settings,
    refresh_token: str,
    scope: frozenset[str] | None = None,
) -> TokenPair:
    """Spend a refresh token for a new pair. A spent token presented again revokes its
    whole session: whoever holds the copy, thief or owner, is cut off.

    ``scope`` (RFC 6749 §6) narrows this pair's access token within what the session holds;
    the session keeps its own, so the next refresh may ask for all of it again. Wider is
    ``invalid_scope``, found before anything is written: the refresh token stays unspent."""
    token_hash = hash_opaque_token(refresh_token)
    # Each turn reads the token, applies the rules and writes only if nothing changed since
    # the read. A change is a spend, a revocation or a deactivation, which the next read's
    # rules turn into an answer: a third turn is only ever needed inside the reuse grace.
    for _ in range(3):
        token = await sessions.find_refresh_token(token_hash)
        if token is None:
            raise InvalidRefreshToken("The refresh token is not valid.")
        now = datetime.now(UTC)
        match rotation_of(token, now, settings):
            case Rotation.SESSION_REVOKED:
                raise InvalidRefreshToken("The session of this refresh token has been revoked.")
            case Rotation.REUSED:
                AUTH_REFRESH_REUSE.inc()
                await revocations.revoke_session_now(
                    token.session_id, reason="refresh_token_reused"
                )
                raise RefreshTokenReused(
                    "This refresh token was already used; its session has been revoked."
                )
            case Rotation.EXPIRED:
                raise InvalidRefreshToken("The refresh token has expired.")
            case Rotation.ACCOUNT_INACTIVE:
                raise InvalidRefreshToken("The refresh token is not valid.")
        subject = token.subject
        if scope is not None:
            if not scope <= subject.scopes:
                raise OAuthError("invalid_scope", "The requested scope exceeds this session's.")
            subject = replace(subject, scope=format_scope(scope))
        refresh, refresh_hash, refresh_expires = _next_refresh_token(
            settings, token.session_expires_at, now
        )
        if await sessions.rotate_refresh_token(token, refresh_hash, refresh_expires, now):
            return _pair(issuer, settings, subject, now, refresh, refresh_expires)
    raise RuntimeError("a refresh token changed three times while it was being rotated")


async def end(
    sessions: LoginSessionRepository,
    revocations: Revocations,
    refresh_token: str,
    access_claims: AccessClaims | None,
) -> None:
    """Logout: revoke the refresh token's session, and the presented access token too."""
    token = await sessions.refresh_token_for_update(hash_opaque_token(refresh_token))
    if token is None:
        raise InvalidRefreshToken("The refresh token is not valid.")
    await revocations.revoke_session(token.session_id, reason="logout")
    if access_claims is not None and access_claims.sub == str(token.user_id):
        await revocations.revoke_access_token(access_claims)


async def list_active(
    sessions: LoginSessionRepository, user_id: uuid.UUID
) -> Sequence[LoginSession]:
    return await sessions.active_for_user(user_id, datetime.now(UTC))


async def end_one(
    sessions: LoginSessionRepository,
    revocations: Revocations,
    user_id: uuid.UUID,
    session_id: uuid.UUID,
) -> None:
    login = await sessions.get_for_user(session_id, user_id)
    if login is None or login.revoked_at is not None:
        raise SessionNotFound("No active session of yours has this id.")
    await revocations.revoke_session(login.id, reason="revoked_by_user")


async def existing_user(users: UserRepository, user_id: uuid.UUID) -> User:
    """The user ``user_id`` names; ``UserNotFound`` (404) if nobody has it."""
    user = await users.get(user_id)
    if user is None:
        raise UserNotFound("No user has this id.")
    return user


async def list_active_for_admin(
    users: UserRepository,
    sessions: LoginSessionRepository,
    actor_id: str,
    user_id: uuid.UUID,
) -> Sequence[LoginSession]:
    """Another user's active sessions, as an administrator sees them."""
    await existing_user(users, user_id)
    active = await sessions.active_for_user(user_id, datetime.now(UTC))
    log.info("admin_sessions_listed", actor_id=actor_id, user_id=str(user_id), count=len(active))
    return active


async def end_one_for_admin(
    users: UserRepository,
    sessions: LoginSessionRepository,
    revocations: Revocations,
    actor_id: str,
    user_id: uuid.UUID,
    session_id: uuid.UUID,
) -> None:
    """``end_one`` for an administrator: the same revocation, under another reason."""
    await existing_user(users, user_id)
    login = await sessions.get_for_user(session_id, user_id)
    if login is None or login.revoked_at is not None:
        raise SessionNotFound("This user has no active session with this id.")
    await revocations.revoke_session(login.id, reason="revoked_by_admin")
    audit_after_commit(
        sessions.session,
        "admin_session_ended",
        actor_id=actor_id,
        user_id=str(user_id),
        session_id=str(session_id),
    )


async def end_all_for_admin(
    users: UserRepository,
    sessions: LoginSessionRepository,
    revocations: Revocations,
    actor_id: str,
    user_id: uuid.UUID,
) -> None:
    """Logout-all for an administrator: every session of the user, and every access token
    issued to them until now."""
    await existing_user(users, user_id)
    revoked = await revocations.revoke_user(user_id, reason="logout_all_by_admin")
    audit_after_commit(
        sessions.session,
        "admin_sessions_ended",
        actor_id=actor_id,
        user_id=str(user_id),
        count=len(revoked.sessions),
    )
