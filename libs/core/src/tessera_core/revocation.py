"""Token revocation: PostgreSQL is the source of truth, Redis the one-round-trip fast path.

A revocation is committed to PostgreSQL first and copied to Redis after the commit, so what
the client was told (204, 401) holds even when Redis is down. Redis holds revoked
``(issuer, jti)``, revoked session ids and a per-user "not before" (epoch seconds), each
living as long as a token it denies can still be accepted (``exp`` plus the leeway).

The fast path is trusted only while nothing says it may be incomplete. Three things say so,
and are handled the same way: a Redis call that failed (a write may be lost, or Redis may
have restarted), a missing *epoch marker* (Redis lost its data: restart without persistence,
flush, failover) and time (eviction, the last second of an AOF ``everysec`` crash, a replica
that missed writes: nothing announces those). The answer is a **resync**: every revocation
that can still matter is re-asserted from PostgreSQL. A process that distrusts the fast path
accepts no token until a resync that started after its doubt has completed; one replica
resyncs every ``resync_seconds``; resyncs run one at a time, under a Redis lock with a TTL.

Every key of one user's revocations carries the hash tag of the user's *bucket* (one of
1,024), and each bucket has its own epoch marker: the check reads four keys of one Redis
Cluster hash slot, one round trip on a cluster too, and a shard that loses its data loses
its own markers, so the loss is seen wherever it happened.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
import uuid
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from redis.exceptions import RedisError, ResponseError
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tessera_core.db import after_commit, session_scope
from tessera_core.errors import RevocationUnavailable, TokenRevoked
from tessera_core.metrics import (
    AUTH_TOKENS_REVOKED,
    REVOCATION_FAST_PATH_FAILURES,
    REVOCATION_RESYNCS,
)
from tessera_core.models import LoginSession, RevokedAccessToken, User
from tessera_core.redis_client import RedisClient
from tessera_core.tokens import AccessClaims

__all__ = [
    "EVICTING_POLICIES",
    "RevocationStore",
    "Revocations",
    "Revoked",
    "bucket",
    "jti_key",
    "not_before_key",
    "sid_key",
]

PREFIX = "tessera:rv:"
BUCKETS = 1024
# One hash slot for the resync's bookkeeping: a shard that loses it loses all of it, so a
# "completed" count can never outlive the "started" count it is compared with.
RESYNC_LOCK = f"{PREFIX}{{resync}}:lock"
RESYNC_STARTED = f"{PREFIX}{{resync}}:started"
RESYNC_COMPLETED = f"{PREFIX}{{resync}}:completed"
RESYNC_DUE = f"{PREFIX}{{resync}}:due"
# A resync holds the lock this long at most: a replica that dies mid-resync blocks no one.
RESYNC_LOCK_SECONDS = 30
# How long a request waits for another replica's resync before answering 503.
RESYNC_WAIT_SECONDS = 2.0
# Every policy but noeviction may drop keys that carry a TTL, which all revocations do.
EVICTING_POLICIES = frozenset(
    {"allkeys-lru", "allkeys-lfu", "allkeys-random", "volatile-lru", "volatile-lfu",
     "volatile-random", "volatile-ttl"}
)  # fmt: skip

# Keeps the larger value and the longer TTL: a resync that read PostgreSQL a moment before
# a newer "not before" was written cannot replace it with an older one, nor shorten a TTL.
KEEP_LATEST = """
for i, key in ipairs(KEYS) do
  local value, ttl = ARGV[2 * i - 1], tonumber(ARGV[2 * i])
  local current = redis.call('GET', key)
  if current and tonumber(current) and tonumber(current) > tonumber(value) then
    value = current
  end
  local left = redis.call('TTL', key)
  if left > ttl then ttl = left end
  redis.call('SET', key, value, 'EX', ttl)
end
return #KEYS
"""
# Releases the lock only if it is still ours (it may have expired and been taken since).
RELEASE_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

Entry = tuple[str, str, int]  # key, value, TTL in seconds
# Where a unit of work's revocations wait for its commit (``AsyncSession.info``).
_PENDING = "tessera.revocations.pending"
log = structlog.get_logger("tessera.revocation")


def bucket(user_id: str | uuid.UUID) -> str:
    """The hash tag of a user's revocation keys: ``{rv<n>}``, n in [0, BUCKETS)."""
    return f"{{rv{zlib.crc32(str(user_id).encode()) % BUCKETS}}}"


def jti_key(issuer: str, jti: str, user_id: str | uuid.UUID) -> str:
    return f"{PREFIX}{bucket(user_id)}:jti:{issuer}:{jti}"


def sid_key(sid: str | uuid.UUID, user_id: str | uuid.UUID) -> str:
    return f"{PREFIX}{bucket(user_id)}:sid:{sid}"


def not_before_key(user_id: str | uuid.UUID) -> str:
    return f"{PREFIX}{bucket(user_id)}:nbf:{user_id}"


def epoch_marker(tag: str) -> str:
    """The marker of one bucket (no TTL): missing means Redis lost that bucket's keys."""
    return f"{PREFIX}{tag}:epoch"


ALL_BUCKETS = tuple(f"{{rv{n}}}" for n in range(BUCKETS))
# The bucket ping() looks at; each request's check looks at its own.
SENTINEL_MARKER = epoch_marker(ALL_BUCKETS[0])


class RevocationStore:
    """Checks and records revocations.

    Args:
        redis: the shared Redis client.
        session_factory: PostgreSQL sessions, for resyncs and for revocations that commit on
            their own.
        access_ttl_seconds: how long an access token lives.
        leeway_seconds: how long past ``exp`` the verifiers still accept a token.
        resync_seconds: the bound on how long a partial loss of Redis data can go unnoticed.

    Example:
        >>> store = RevocationStore(  # doctest: +SKIP
        ...     redis, factory, access_ttl_seconds=900, leeway_seconds=30
        ... )
        >>> await store.check(iss, jti=j, sid=s, user_id=u, issued_at=iat)  # doctest: +SKIP
    """

    def __init__(
        self,
        redis: RedisClient,
        session_factory: async_sessionmaker[AsyncSession],
        *,
        access_ttl_seconds: int,
        leeway_seconds: int,
        resync_seconds: float = 30.0,
    ) -> None:
        self.redis = redis
        self.session_factory = session_factory
        self.leeway_seconds = leeway_seconds
        # A session or "not before" revoked now denies tokens that can be accepted until then.
        self.window_seconds = access_ttl_seconds + leeway_seconds
        self.resync_seconds = resync_seconds
        self.maxmemory_policy: str | None = None
        self._keep_latest = redis.register_script(KEEP_LATEST)
        self._release_lock = redis.register_script(RELEASE_LOCK)
        # None while the fast path is trusted; else the resync count seen since the doubt
        # (-1 until Redis answered again): a resync started later re-asserts what was lost.
        self._doubt: int | None = None
        self._trust_lock = asyncio.Lock()

    @property
    def trusted(self) -> bool:
        return self._doubt is None

    async def check(self, issuer: str, *, jti: str, sid: str, user_id: str, issued_at: int) -> None:
        """Raise ``TokenRevoked`` if the token, its session or its user's older tokens are
        revoked; ``RevocationUnavailable`` if that cannot be known. One Redis round trip."""
        keys = (
            jti_key(issuer, jti, user_id),
            sid_key(sid, user_id),
            not_before_key(user_id),
            epoch_marker(bucket(user_id)),
        )
        try:
            if self._doubt is not None:
                await self.restore_trust()
            values = await self.redis.mget(keys)
            if values[3] is None:
                self.doubt("epoch_marker_missing")
                await self.restore_trust()
                values = await self.redis.mget(keys)
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
                    .where(LoginSession.id == _as_uuid(sid))
                    .scalar_subquery(),
                    select(User.tokens_not_before)
                    .where(User.id == _as_uuid(user_id))
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

    def doubt(self, reason: str, error: Exception | None = None) -> None:
        """From now on, accept no token until a resync has re-asserted the fast path."""
        if self._doubt is None:
            self._doubt = -1
            log.warning("revocation_fast_path_distrusted", reason=reason, error=repr(error))

    async def restore_trust(self) -> None:
        """Return once a resync started after the doubt has completed (running one if no
        other replica is); raise ``RevocationUnavailable`` if that takes too long."""
        async with self._trust_lock:
            if self._doubt is None:
                return
            try:
                if self._doubt < 0:
                    self._doubt = int(await self.redis.get(RESYNC_STARTED) or 0)
                deadline = time.monotonic() + RESYNC_WAIT_SECONDS
                while True:
                    completed = await self.redis.get(RESYNC_COMPLETED)
                    marker = await self.redis.get(SENTINEL_MARKER)
                    if marker is not None and int(completed or 0) > self._doubt:
                        break
                    if await self.resync(reason="recovery"):
                        break
                    if time.monotonic() > deadline:
                        raise RevocationUnavailable(
                            "The revocation store is being re-asserted; try again."
                        )
                    await asyncio.sleep(0.05)
            except RedisError as exc:
                self._doubt = -1
                raise RevocationUnavailable("The revocation store cannot be reached.") from exc
            self._doubt = None
            log.info("revocation_fast_path_trusted")

    async def resync(self, *, reason: str) -> bool:
        """Re-assert every revocation that can still matter from PostgreSQL, then set the
        epoch marker. False, doing nothing, when another replica's resync holds the lock."""
        token = uuid.uuid4().hex
        if not await self.redis.set(RESYNC_LOCK, token, nx=True, ex=RESYNC_LOCK_SECONDS):
            return False
        started = time.monotonic()
        try:
            number = int(await self.redis.incr(RESYNC_STARTED))
            log.info("revocation_resync_started", reason=reason, resync=number)
            try:
                entries = await self._entries_from_database()
            except SQLAlchemyError as exc:
                raise RevocationUnavailable(
                    "The revocation store is being re-asserted and the database cannot be reached."
                ) from exc
            await self._write(entries)
            # The markers after the keys: a marker says its bucket is whole. One pipeline
            # (on a cluster, one round trip per node).
            epoch = datetime.now(UTC).isoformat()
            async with self.redis.pipeline(transaction=False) as pipe:
                for tag in ALL_BUCKETS:
                    pipe.set(epoch_marker(tag), epoch)
                await pipe.execute()
            if int(await self.redis.get(RESYNC_STARTED) or 0) != number:
                # Redis lost its data while this resync ran (its own counter is gone): keys
                # written before the loss are gone too, so the markers just set would lie.
                await self._drop_markers()
                raise RevocationUnavailable("Redis lost its data during a resync; retrying.")
            await self.redis.set(RESYNC_COMPLETED, number)
        finally:
            await self._release_lock(keys=[RESYNC_LOCK], args=[token])
        REVOCATION_RESYNCS.labels(reason=reason).inc()
        log.info(
            "revocation_resync_completed",
            reason=reason,
            resync=number,
            entries=len(entries),
            duration_ms=round((time.monotonic() - started) * 1000, 1),
        )
        return True

    async def _drop_markers(self) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for tag in ALL_BUCKETS:
                pipe.delete(epoch_marker(tag))
            await pipe.execute()

    async def keep_fast_path(self) -> None:
        """Run for the life of the process: while the fast path is distrusted, restore it
        (so a lost write is re-asserted although no request comes); otherwise take part in
        the periodic resync, which whichever replica finds it due runs."""
        due_ms = max(1, int(self.resync_seconds * 2000 / 3))
        while True:
            if self._doubt is not None:
                await asyncio.sleep(0.5)
            else:
                await asyncio.sleep(self.resync_seconds / 3 * random.uniform(0.8, 1.0))  # noqa: S311 (jitter)
            try:
                if self._doubt is not None:
                    await self.restore_trust()
                elif await self.redis.set(RESYNC_DUE, "1", nx=True, px=due_ms):
                    await self.resync(reason="periodic")
            except RedisError as exc:
                self.doubt("redis_unreachable", exc)
            except RevocationUnavailable as exc:
                log.warning("revocation_resync_failed", error=str(exc))
            except Exception:  # the keeper must outlive any one failure
                log.exception("revocation_keeper_failed")

    async def ping(self) -> bool:
        """True when Redis answers and the fast path can be trusted (restoring it if not);
        records Redis's eviction policy where the server tells it."""
        try:
            await self.redis.ping()
            self.maxmemory_policy = await self._read_maxmemory_policy()
            if self._doubt is None and await self.redis.get(SENTINEL_MARKER) is None:
                self.doubt("epoch_marker_missing")
            await self.restore_trust()
            return True
        except RedisError as exc:
            self.doubt("redis_unreachable", exc)
            return False
        except RevocationUnavailable:
            return False

    async def _read_maxmemory_policy(self) -> str | None:
        try:
            memory = await self.redis.info("memory")
        except ResponseError:  # a managed Redis may refuse INFO
            return None
        policy = memory.get("maxmemory_policy")
        return str(policy) if policy is not None else None

    def bind(self, db: AsyncSession) -> Revocations:
        """The revocations of one unit of work (a request's database session)."""
        return Revocations(self, db)

    async def publish(self, entries: Sequence[Entry]) -> None:
        """Copy committed revocations to the fast path. Never raises: the revocation is
        already true in PostgreSQL; if Redis cannot take it, every verifier of this process
        distrusts the fast path until a resync has re-asserted it."""
        if not entries:
            return
        try:
            await self._write(entries)
        except RedisError as exc:
            REVOCATION_FAST_PATH_FAILURES.inc()
            log.warning("revocation_fast_path_write_failed", entries=len(entries))
            self.doubt("fast_path_write_failed", exc)

    async def _write(self, entries: Sequence[Entry]) -> None:
        """One script call per bucket (a Redis Cluster runs a script on one slot's keys),
        a few buckets at a time."""
        by_bucket: dict[str, list[Entry]] = {}
        for entry in entries:
            tag = entry[0][len(PREFIX) : entry[0].index("}") + 1]
            by_bucket.setdefault(tag, []).append(entry)
        calls = [
            self._keep_latest(
                keys=[key for key, _, _ in group],
                args=[part for _, value, ttl in group for part in (value, ttl)],
            )
            for group in by_bucket.values()
        ]
        for start in range(0, len(calls), 32):
            await asyncio.gather(*calls[start : start + 32])

    async def _entries_from_database(self) -> list[Entry]:
        now = datetime.now(UTC)
        since = now - timedelta(seconds=self.window_seconds)

        def remaining(at: datetime) -> int:
            return max(1, self.window_seconds - int((now - at).total_seconds()))

        entries: list[Entry] = []
        async with self.session_factory() as db:
            revoked_sessions = await db.execute(
                select(LoginSession.id, LoginSession.user_id, LoginSession.revoked_at).where(
                    LoginSession.revoked_at >= since
                )
            )
            for sid, owner, revoked_at in revoked_sessions:
                if revoked_at is not None:
                    entries.append((sid_key(sid, owner), "1", remaining(revoked_at)))
            not_befores = await db.execute(
                select(User.id, User.tokens_not_before).where(User.tokens_not_before >= since)
            )
            for user_id, not_before in not_befores:
                if not_before is None:
                    continue
                value = str(int(not_before.timestamp()))
                entries.append((not_before_key(user_id), value, remaining(not_before)))
            accepted_until = now - timedelta(seconds=self.leeway_seconds)
            for issuer, jti, holder, expires_at in await db.execute(
                select(
                    RevokedAccessToken.issuer,
                    RevokedAccessToken.jti,
                    RevokedAccessToken.user_id,
                    RevokedAccessToken.expires_at,
                ).where(
                    RevokedAccessToken.expires_at > accepted_until,
                    RevokedAccessToken.user_id.is_not(None),
                )
            ):
                if holder is not None:
                    ttl = self.access_token_ttl(expires_at)
                    entries.append((jti_key(issuer, jti, holder), "1", ttl))
        return entries

    def access_token_ttl(self, expires_at: datetime) -> int:
        """Seconds a revoked access token must stay denied: until ``exp`` plus the leeway."""
        left = expires_at.timestamp() + self.leeway_seconds - datetime.now(UTC).timestamp()
        return max(1, math.ceil(left))


def _as_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


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
                issuer=claims.iss, jti=claims.jti, expires_at=expires, user_id=_as_uuid(claims.sub)
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

    async def revoke_session_now(self, session_id: uuid.UUID, *, reason: str) -> Revoked:
        """``revoke_session`` in a transaction of its own, committed at once: for a revocation
        that must stand although the request fails (a reused refresh token answers 401, and
        the request's own transaction rolls back)."""
        async with session_scope(self.store.session_factory) as db:
            revoked = await Revocations(self.store, db)._revoke_sessions(
                [session_id], reason=reason
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
