"""The revocation store's checks, and the revocations of one unit of work: written in its
transaction, copied to the fast path after its commit."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from redis.exceptions import RedisError
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from tessera_core.db.engine import after_commit
from tessera_core.db.models import LoginSession, RevokedAccessToken, User
from tessera_core.db.unit_of_work import UnitOfWork
from tessera_core.errors import RevocationUnavailable, TokenRevoked
from tessera_core.ops.metrics import AUTH_TOKENS_REVOKED
from tessera_core.revocation.fast_path import FastPath
from tessera_core.revocation.keys import (
    Entry,
    as_uuid,
    bucket,
    epoch_marker,
    jti_key,
    not_before_key,
    sid_key,
)
from tessera_core.tokens import AccessClaims

__all__ = ["RevocationStore", "Revocations", "Revoked"]

# Where a unit of work's revocations wait for its commit (``AsyncSession.info``).
_PENDING = "tessera.revocations.pending"


class RevocationStore(FastPath):
    """Checks and records revocations.

    Args:
        redis: the shared Redis client.
        database: the worker's pool, for resyncs and for revocations that commit on their
            own.
        access_ttl_seconds: how long an access token lives.
        leeway_seconds: how long past ``exp`` the verifiers still accept a token.
        resync_seconds: the bound on how long a partial loss of Redis data can go unnoticed.

    Example:
        >>> store = RevocationStore(  # doctest: +SKIP
        ...     redis, database, access_ttl_seconds=900, leeway_seconds=30
        ... )
        >>> await store.check(iss, jti=j, sid=s, user_id=u, issued_at=iat)  # doctest: +SKIP
    """

    async def check(self, issuer: str, *, jti: str, sid: str, user_id: str, issued_at: int) -> None:
        """Raise ``TokenRevoked`` if the token, its session or its user's older tokens are
        revoked; ``RevocationUnavailable`` if that cannot be known. One Redis round trip, shared
        with the checks of the same loop turn (``CoalescedReads``)."""
        keys = (
            jti_key(issuer, jti, user_id),
            sid_key(sid, user_id),
            not_before_key(user_id),
            epoch_marker(bucket(user_id)),
        )
        try:
            if self._doubt is not None:
                await self.restore_trust()
            values = await self.reads.mget(keys)
            if values[3] is None:
                self.doubt("epoch_marker_missing")
                await self.restore_trust()
                values = await self.reads.mget(keys)
        except RedisError as exc:
            self.doubt("redis_unreachable", exc)
            raise RevocationUnavailable("The revocation store cannot be reached.") from exc
        jti_revoked, sid_revoked, not_before, _ = values
        if jti_revoked is not None:
            raise TokenRevoked("This token has been revoked.")
        if sid_revoked is not None:
            raise TokenRevoked("This session has been revoked.")
        if not_before is not None and issued_at < int(not_before):
            raise TokenRevoked("Tokens issued before this time have been revoked.")

    async def check_database(
        self, db: AsyncSession, issuer: str, *, jti: str, sid: str, user_id: str, issued_at: int
    ) -> None:
        """``check`` against PostgreSQL itself, in one query: for requests that must work
        while Redis is down (the ones that revoke) and hold a database session anyway."""
        row = (
            await db.execute(
                select(
                    select(RevokedAccessToken.jti)
                    .where(RevokedAccessToken.issuer == issuer, RevokedAccessToken.jti == jti)
                    .exists(),
                    select(LoginSession.revoked_at)
                    .where(LoginSession.id == as_uuid(sid))
                    .scalar_subquery(),
                    select(User.tokens_not_before)
                    .where(User.id == as_uuid(user_id))
                    .scalar_subquery(),
                )
            )
        ).one()
        jti_revoked, sid_revoked_at, not_before = row
        if jti_revoked:
            raise TokenRevoked("This token has been revoked.")
        if sid_revoked_at is not None:
            raise TokenRevoked("This session has been revoked.")
        if not_before is not None and issued_at < int(not_before.timestamp()):
            raise TokenRevoked("Tokens issued before this time have been revoked.")

    def bind(self, db: AsyncSession) -> Revocations:
        """The revocations of one unit of work (a request's database session)."""
        return Revocations(self, db)

    async def revoke_session_now(self, session_id: uuid.UUID, *, reason: str) -> Revoked:
        """Revoke a session in a transaction of its own, committed at once: for a revocation
        that must stand although the request fails (a reused refresh token answers 401), and
        for a request that opens no unit of work (a refresh)."""
        async with UnitOfWork(self.database, writes=True) as work:
            revoked = await Revocations(self, work.session)._revoke_sessions(
                [session_id], reason=reason
            )
        return Revocations._counted(revoked)


@dataclass(frozen=True)
class Revoked:
    """What one revocation newly revoked; revoking something already revoked adds nothing."""

    sessions: tuple[uuid.UUID, ...] = ()
    access_tokens: int = 0

    @property
    def count(self) -> int:
        return len(self.sessions) + self.access_tokens


class Revocations:
    """Revocations made in one unit of work: written to PostgreSQL in its transaction,
    copied to the Redis fast path once it has committed, and counted in
    ``auth_tokens_revoked_total`` by what was newly revoked.

    Example:
        >>> revocations = store.bind(db)  # doctest: +SKIP
        >>> (await revocations.revoke_session(sid, reason="logout")).count  # doctest: +SKIP
        1
    """

    def __init__(self, store: RevocationStore, db: AsyncSession) -> None:
        self.store = store
        self.db = db

    async def check(self, issuer: str, *, jti: str, sid: str, user_id: str, issued_at: int) -> None:
        """The store's check, falling back to PostgreSQL in this unit of work when the fast
        path cannot answer: a request that revokes (logout-all, a password change, a
        deactivation) must not depend on Redis being up."""
        try:
            await self.store.check(issuer, jti=jti, sid=sid, user_id=user_id, issued_at=issued_at)
        except RevocationUnavailable:
            await self.store.check_database(
                self.db, issuer, jti=jti, sid=sid, user_id=user_id, issued_at=issued_at
            )

    async def revoke_access_token(self, claims: AccessClaims) -> Revoked:
        """Deny one access token for as long as a verifier could still accept it. Revoking
        one token twice at once is one revocation (the insert does nothing on conflict)."""
        expires = datetime.fromtimestamp(claims.exp, UTC)
        if claims.exp + self.store.leeway_seconds <= datetime.now(UTC).timestamp():
            return Revoked()
        inserted = await self.db.scalar(
            insert(RevokedAccessToken)
            .values(
                issuer=claims.iss, jti=claims.jti, expires_at=expires, user_id=as_uuid(claims.sub)
            )
            .on_conflict_do_nothing()
            .returning(RevokedAccessToken.jti)
        )
        key = jti_key(claims.iss, claims.jti, claims.sub)
        self._publish_after_commit([(key, "1", self.store.access_token_ttl(expires))])
        return self._counted(Revoked(access_tokens=int(inserted is not None)))

    async def revoke_session(self, session_id: uuid.UUID, *, reason: str) -> Revoked:
        """End one login session: its refresh token and every access token issued in it."""
        return self._counted(await self._revoke_sessions([session_id], reason=reason))

    async def revoke_other_sessions(
        self, user_id: uuid.UUID, *, keep: uuid.UUID, reason: str
    ) -> Revoked:
        """End every live session of a user but ``keep`` (a password change keeps the
        session that made it)."""
        return self._counted(
            await self._revoke_sessions(await self._live_sessions(user_id, keep), reason=reason)
        )

    async def revoke_user(self, user_id: uuid.UUID, *, reason: str) -> Revoked:
        """End every session of a user and deny every access token issued to them until now."""
        now = datetime.now(UTC)
        await self.db.execute(update(User).where(User.id == user_id).values(tokens_not_before=now))
        revoked = await self._revoke_sessions(await self._live_sessions(user_id), reason=reason)
        # Whole seconds: a token minted later in this same second has a new sid and stays
        # valid; those minted earlier in it are caught by their revoked sid.
        self._publish_after_commit(
            [(not_before_key(user_id), str(int(now.timestamp())), self.store.window_seconds)]
        )
        return self._counted(revoked)

    async def publish(self) -> None:
        """Copy what this unit of work revoked to the fast path (after its commit)."""
        await self.store.publish(self.db.info.pop(_PENDING, []))

    def _publish_after_commit(self, entries: list[Entry]) -> None:
        pending: list[Entry] | None = self.db.info.get(_PENDING)
        if pending is None:
            pending = self.db.info[_PENDING] = []
            after_commit(self.db, self.publish)
        pending.extend(entries)

    async def _live_sessions(
        self, user_id: uuid.UUID, keep: uuid.UUID | None = None
    ) -> list[uuid.UUID]:
        query = select(LoginSession.id).where(
            LoginSession.user_id == user_id, LoginSession.revoked_at.is_(None)
        )
        if keep is not None:
            query = query.where(LoginSession.id != keep)
        return list((await self.db.scalars(query)).all())

    async def _revoke_sessions(self, ids: list[uuid.UUID], *, reason: str) -> Revoked:
        if not ids:
            return Revoked()
        newly = (
            await self.db.execute(
                update(LoginSession)
                .where(LoginSession.id.in_(ids), LoginSession.revoked_at.is_(None))
                .values(revoked_at=datetime.now(UTC), revoked_reason=reason)
                .returning(LoginSession.id, LoginSession.user_id)
            )
        ).all()
        window = self.store.window_seconds
        self._publish_after_commit([(sid_key(sid, owner), "1", window) for sid, owner in newly])
        return Revoked(sessions=tuple(sid for sid, _ in newly))

    @staticmethod
    def _counted(revoked: Revoked) -> Revoked:
        if revoked.count:
            AUTH_TOKENS_REVOKED.inc(revoked.count)
        return revoked
