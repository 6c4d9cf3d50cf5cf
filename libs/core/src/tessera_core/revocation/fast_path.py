"""The Redis fast path of the revocation store, and keeping it trustworthy: the doubt, the
resync that re-asserts every revocation from PostgreSQL, the keeper that runs it, and the
writes that copy committed revocations."""

from __future__ import annotations

import asyncio
import math
import random
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import structlog
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError, ResponseError
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from tessera_core.db.engine import Database
from tessera_core.db.models import LoginSession, RevokedAccessToken, User
from tessera_core.db.redis_client import RedisClient
from tessera_core.db.unit_of_work import UnitOfWork
from tessera_core.errors import RevocationUnavailable
from tessera_core.ops.metrics import REVOCATION_FAST_PATH_FAILURES, REVOCATION_RESYNCS
from tessera_core.revocation.keys import (
    ALL_GUARDS,
    ALL_MARKERS,
    KEEP_LATEST,
    MARK_WHOLE,
    PREFIX,
    RELEASE_LOCK,
    RESYNC_COMPLETED,
    RESYNC_DUE,
    RESYNC_LOCK,
    RESYNC_LOCK_SECONDS,
    RESYNC_STARTED,
    RESYNC_WAIT_SECONDS,
    SENTINEL_MARKER,
    SET_GUARDS,
    Entry,
    jti_key,
    not_before_key,
    sid_key,
)
from tessera_core.revocation.reads import CoalescedReads

__all__ = ["FastPath"]

log = structlog.get_logger("tessera.revocation")


class FastPath:
    """The Redis copy of the revocations, trusted only while nothing says it may be
    incomplete (``RevocationStore`` adds the checks)."""

    def __init__(
        self,
        redis: RedisClient,
        database: Database,
        *,
        access_ttl_seconds: int,
        leeway_seconds: int,
        resync_seconds: float = 30.0,
    ) -> None:
        self.redis = redis
        # The per-request check's reads, one pipeline for all the requests of a loop turn.
        self.reads = CoalescedReads(redis)
        self.database = database
        self.leeway_seconds = leeway_seconds
        # A session or "not before" revoked now denies tokens that can be accepted until then.
        self.window_seconds = access_ttl_seconds + leeway_seconds
        self.resync_seconds = resync_seconds
        self.maxmemory_policy: str | None = None
        self._keep_latest = redis.register_script(KEEP_LATEST)
        self._release_lock = redis.register_script(RELEASE_LOCK)
        self._mark_whole_script = redis.register_script(MARK_WHOLE)
        self._set_guards_script = redis.register_script(SET_GUARDS)
        # None while the fast path is trusted; else the resync count seen since the doubt
        # (-1 until Redis answered again): a resync started later re-asserts what was lost.
        self._doubt: int | None = None
        self._trust_lock = asyncio.Lock()
        self._keeping = True

    @property
    def trusted(self) -> bool:
        return self._doubt is None

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
            # A guard in each bucket before its keys, the markers after them, each set only
            # where its guard survived: a marker says its bucket is whole. Redis losing its
            # data mid-resync took the guards along, so no marker stands over lost keys, not
            # even for a moment (a check in that moment accepted a revoked token).
            await self._guard_buckets(number)
            await self._write(entries)
            await self._mark_whole(number, datetime.now(UTC).isoformat())
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

    async def _guard_buckets(self, number: int) -> None:
        if isinstance(self.redis, RedisCluster):
            async with self.redis.pipeline(transaction=False) as pipe:
                for guard in ALL_GUARDS:
                    pipe.set(guard, number, ex=RESYNC_LOCK_SECONDS)
                await pipe.execute()
            return
        await self._set_guards_script(keys=list(ALL_GUARDS), args=[number, RESYNC_LOCK_SECONDS])

    async def _mark_whole(self, number: int, epoch: str) -> None:
        """On one server, one script call for all 1,024 buckets: a call each, even
        pipelined, cost the resync ~35 ms of CPU in redis-py, and a guard each as much
        again. A Redis Cluster runs a script on one slot's keys: there, a call per bucket, a
        few dozen at a time (redis-py refuses scripts in a cluster pipeline)."""
        keys_of = list(zip(ALL_GUARDS, ALL_MARKERS, strict=True))
        if isinstance(self.redis, RedisCluster):
            calls = [
                self._mark_whole_script(keys=list(keys), args=[number, epoch]) for keys in keys_of
            ]
            for start in range(0, len(calls), 64):
                await asyncio.gather(*calls[start : start + 64])
            return
        keys = [key for pair in keys_of for key in pair]
        await self._mark_whole_script(keys=keys, args=[number, epoch])

    async def _drop_markers(self) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for marker in ALL_MARKERS:
                pipe.delete(marker)
            await pipe.execute()

    async def keep_fast_path(self) -> None:
        """Run for the life of the process: while the fast path is distrusted, restore it
        (so a lost write is re-asserted although no request comes); otherwise take part in
        the periodic resync, which whichever replica finds it due runs."""
        due_ms = max(1, int(self.resync_seconds * 2000 / 3))
        while self._keeping:
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

    def stop_keeping(self) -> None:
        """End ``keep_fast_path`` after its current step. Cancelling it alone is not enough:
        on Python 3.11, ``asyncio.wait_for`` (which redis-py awaits on every send) loses a
        cancellation that arrives as its inner call completes, and the keeper then ran on
        while its service waited for it to end (a test teardown hung 300 s, under load)."""
        self._keeping = False

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
        async with UnitOfWork(self.database, writes=False) as work:
            db = work.session
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
