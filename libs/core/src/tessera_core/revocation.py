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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tessera_core.errors import RevocationUnavailable, TokenRevoked
from tessera_core.metrics import AUTH_TOKENS_REVOKED
from tessera_core.models import LoginSession, RevokedAccessToken, User
from tessera_core.tokens import AccessClaims

__all__ = ["RevocationStore", "Revocations", "Revoked"]

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

    def bind(self, db: AsyncSession) -> Revocations:
        """The revocations of one unit of work (a request's database session)."""
        return Revocations(self, db)

    async def write(self, entries: list[tuple[str, str, int]]) -> None:
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
                await self.write(entries)
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


@dataclass(frozen=True)
class Revoked:
    """What one revocation newly revoked; revoking something already revoked adds nothing."""

    sessions: tuple[uuid.UUID, ...] = ()
    access_tokens: int = 0

    @property
    def count(self) -> int:
        return len(self.sessions) + self.access_tokens


class Revocations:
    """Revocations made in one unit of work: written to PostgreSQL in its transaction and to
    the Redis fast path, and counted in ``auth_tokens_revoked_total`` by what was newly
    revoked. If Redis cannot be written, ``RevocationUnavailable`` rolls the unit back, so a
    revocation is in both stores or in neither.

    Example:
        >>> revocations = store.bind(db)  # doctest: +SKIP
        >>> (await revocations.revoke_session(sid, reason="logout")).count  # doctest: +SKIP
        1
    """

    def __init__(self, store: RevocationStore, db: AsyncSession) -> None:
        self.store = store
        self.db = db

    async def revoke_access_token(self, claims: AccessClaims) -> Revoked:
        """Deny one access token until it expires anyway."""
        expires = datetime.fromtimestamp(claims.exp, UTC)
        if expires <= datetime.now(UTC):
            return Revoked()
        newly = await self.db.get(RevokedAccessToken, (claims.iss, claims.jti)) is None
        if newly:
            self.db.add(RevokedAccessToken(issuer=claims.iss, jti=claims.jti, expires_at=expires))
            await self.db.flush()
        ttl = max(1, math.ceil(claims.exp - datetime.now(UTC).timestamp()))
        await self.store.write([(jti_key(claims.iss, claims.jti), "1", ttl)])
        return self._counted(Revoked(access_tokens=int(newly)))

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
        await self.store.write(
            [(not_before_key(user_id), str(int(now.timestamp())), self.store.window_seconds)]
        )
        return self._counted(revoked)

    async def revoke_session_now(self, session_id: uuid.UUID, *, reason: str) -> Revoked:
        """``revoke_session`` in a transaction of its own, committed at once: for a revocation
        that must stand although the request fails (a reused refresh token answers 401, and
        the request's own transaction rolls back)."""
        async with self.store.session_factory() as db, db.begin():
            revoked = await Revocations(self.store, db)._revoke_sessions(
                [session_id], reason=reason
            )
        return self._counted(revoked)

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
            await self.db.scalars(
                update(LoginSession)
                .where(LoginSession.id.in_(ids), LoginSession.revoked_at.is_(None))
                .values(revoked_at=datetime.now(UTC), revoked_reason=reason)
                .returning(LoginSession.id)
            )
        ).all()
        await self.store.write([(sid_key(sid), "1", self.store.window_seconds) for sid in ids])
        return Revoked(sessions=tuple(newly))

    @staticmethod
    def _counted(revoked: Revoked) -> Revoked:
        if revoked.count:
            AUTH_TOKENS_REVOKED.inc(revoked.count)
        return revoked
