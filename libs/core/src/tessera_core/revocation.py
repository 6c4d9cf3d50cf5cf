"""Token revocation: PostgreSQL is the source of truth, Redis the one-round-trip fast path.

Redis holds three kinds of keys, each living no longer than an access token can:
revoked ``(issuer, jti)``, revoked session ids and a per-user "not before" (epoch seconds).
A fourth key, the *epoch marker*, has no TTL: when it is missing Redis has lost its data
(restart without persistence, flush, failover), and the fast path is rebuilt from
PostgreSQL before any token is accepted again, so a revoked token never comes back to life.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tessera_core.errors import RevocationUnavailable, TokenRevoked
from tessera_core.models import LoginSession, RevokedAccessToken, User

PREFIX = "tessera:rv:"
EPOCH_MARKER = f"{PREFIX}epoch"
log = structlog.get_logger("tessera.revocation")


def jti_key(issuer: str, jti: str) -> str:
    return f"{PREFIX}jti:{issuer}:{jti}"


def sid_key(sid: str | uuid.UUID) -> str:
    return f"{PREFIX}sid:{sid}"


def not_before_key(user_id: str | uuid.UUID) -> str:
    return f"{PREFIX}nbf:{user_id}"


class RevocationStore:
    """Checks and records revocations.

    Args:
        redis: the shared Redis client.
        session_factory: PostgreSQL sessions, for rebuilding the fast path.
        window_seconds: how long an access token can live, leeway included: the TTL of
            session and not-before keys.

    Example:
        >>> store = RevocationStore(redis, factory, window_seconds=930)  # doctest: +SKIP
        >>> await store.check(iss, jti=j, sid=s, user_id=u, issued_at=iat)  # doctest: +SKIP
    """

    def __init__(
        self,
        redis: Redis,
        session_factory: async_sessionmaker[AsyncSession],
        *,
        window_seconds: int,
    ) -> None:
        self.redis = redis
        self.session_factory = session_factory
        self.window_seconds = window_seconds
        self._rebuild_lock = asyncio.Lock()

    async def check(self, issuer: str, *, jti: str, sid: str, user_id: str, issued_at: int) -> None:
        """Raise ``TokenRevoked`` if the token, its session or its user's older tokens are
        revoked; ``RevocationUnavailable`` if that cannot be known. One Redis round trip."""
        keys = (jti_key(issuer, jti), sid_key(sid), not_before_key(user_id), EPOCH_MARKER)
        try:
            values = await self.redis.mget(keys)
            if values[3] is None:
                await self.rebuild()
                values = await self.redis.mget(keys)
        except RedisError as exc:
            raise RevocationUnavailable("The revocation store cannot be reached.") from exc
        jti_revoked, sid_revoked, not_before, _ = values
        if jti_revoked is not None:
            raise TokenRevoked("This token has been revoked.")
        if sid_revoked is not None:
            raise TokenRevoked("This session has been revoked.")
        if not_before is not None and issued_at < int(not_before):
            raise TokenRevoked("Tokens issued before this time have been revoked.")

    async def ping(self) -> bool:
        """True when Redis answers and its fast path is intact (rebuilding it if not)."""
        try:
            await self.redis.ping()
            if await self.redis.get(EPOCH_MARKER) is None:
                await self.rebuild()
            return True
        except (RedisError, RevocationUnavailable):
            return False

    async def revoke_access_token(
        self, db: AsyncSession, issuer: str, jti: str, expires_at: int
    ) -> None:
        """Deny one access token until it expires anyway (database first, then Redis)."""
        expires = datetime.fromtimestamp(expires_at, UTC)
        if expires <= datetime.now(UTC):
            return
        existing = await db.get(RevokedAccessToken, (issuer, jti))
        if existing is None:
            db.add(RevokedAccessToken(issuer=issuer, jti=jti, expires_at=expires))
            await db.flush()
        ttl = max(1, math.ceil(expires_at - datetime.now(UTC).timestamp()))
        await self._write([(jti_key(issuer, jti), "1", ttl)])

    async def revoke_sessions(
        self,
        db: AsyncSession,
        session_ids: Iterable[uuid.UUID],
        *,
        reason: str,
    ) -> list[uuid.UUID]:
        """Mark these sessions revoked in PostgreSQL and Redis; returns those newly revoked."""
        ids = list(session_ids)
        if not ids:
            return []
        now = datetime.now(UTC)
        revoked = list(
            (
                await db.scalars(
                    update(LoginSession)
                    .where(LoginSession.id.in_(ids), LoginSession.revoked_at.is_(None))
                    .values(revoked_at=now, revoked_reason=reason)
                    .returning(LoginSession.id)
                )
            ).all()
        )
        await self._write([(sid_key(sid), "1", self.window_seconds) for sid in ids])
        return revoked

    async def revoke_sessions_now(self, session_ids: Iterable[uuid.UUID], *, reason: str) -> None:
        """``revoke_sessions`` in a transaction of its own, committed at once.

        For revocations that must stand although the request fails (a reused refresh
        token answers 401, and the request's own transaction rolls back)."""
        async with self.session_factory() as db, db.begin():
            await self.revoke_sessions(db, session_ids, reason=reason)

    async def revoke_user(self, db: AsyncSession, user_id: uuid.UUID, *, reason: str) -> int:
        """Revoke every session of a user and every access token issued to them until now."""
        now = datetime.now(UTC)
        await db.execute(update(User).where(User.id == user_id).values(tokens_not_before=now))
        session_ids = (
            await db.scalars(
                select(LoginSession.id).where(
                    LoginSession.user_id == user_id, LoginSession.revoked_at.is_(None)
                )
            )
        ).all()
        revoked = await self.revoke_sessions(db, session_ids, reason=reason)
        # Whole seconds: a token minted later in this same second has a new sid and stays
        # valid; those minted earlier in it are caught by their revoked sid.
        await self._write(
            [(not_before_key(user_id), str(int(now.timestamp())), self.window_seconds)]
        )
        return len(revoked)

    async def _write(self, entries: list[tuple[str, str, int]]) -> None:
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for key, value, ttl in entries:
                    pipe.set(key, value, ex=ttl)
                await pipe.execute()
        except RedisError as exc:
            # The caller's transaction rolls back: a revocation lands in both stores or neither.
            raise RevocationUnavailable("The revocation store cannot be reached.") from exc

    async def rebuild(self) -> None:
        """Refill Redis from PostgreSQL, then set the epoch marker."""
        async with self._rebuild_lock:
            try:
                if await self.redis.get(EPOCH_MARKER) is not None:
                    return
                entries = await self._entries_from_database()
                await self._write(entries)
                await self.redis.set(EPOCH_MARKER, datetime.now(UTC).isoformat())
            except SQLAlchemyError as exc:
                raise RevocationUnavailable(
                    "The revocation store is being rebuilt and the database cannot be reached."
                ) from exc
            log.warning("revocation_fast_path_rebuilt", entries=len(entries))

    async def _entries_from_database(self) -> list[tuple[str, str, int]]:
        now = datetime.now(UTC)
        since = now - timedelta(seconds=self.window_seconds)

        def remaining(at: datetime) -> int:
            return max(1, self.window_seconds - int((now - at).total_seconds()))

        entries: list[tuple[str, str, int]] = []
        async with self.session_factory() as db:
            revoked_sessions = await db.execute(
                select(LoginSession.id, LoginSession.revoked_at).where(
                    LoginSession.revoked_at >= since
                )
            )
            for sid, revoked_at in revoked_sessions:
                if revoked_at is not None:
                    entries.append((sid_key(sid), "1", remaining(revoked_at)))
            not_befores = await db.execute(
                select(User.id, User.tokens_not_before).where(User.tokens_not_before >= since)
            )
            for user_id, not_before in not_befores:
                if not_before is not None:
                    value = str(int(not_before.timestamp()))
                    entries.append((not_before_key(user_id), value, remaining(not_before)))
            for issuer, jti, expires_at in await db.execute(
                select(
                    RevokedAccessToken.issuer, RevokedAccessToken.jti, RevokedAccessToken.expires_at
                ).where(RevokedAccessToken.expires_at > now)
            ):
                ttl = max(1, math.ceil((expires_at - now).total_seconds()))
                entries.append((jti_key(issuer, jti), "1", ttl))
        return entries
