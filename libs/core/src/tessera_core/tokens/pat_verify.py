"""Personal access tokens as Bearer tokens: the claims of one, at about the cost of a JWT
check, and its last use written in batches instead of once per request.

A token check (``TokenVerifier.verify``) hands a Bearer with the ``tsr_pat_`` prefix here:
the checksum is checked first (nothing malformed reaches the database), then the token's
row is read by its SHA-256, once per worker per ``cache_seconds``, and turned into
``AccessClaims`` (the user's roles as the row says them, the token's scope within what they
allow, ``amr`` ``["pat"]`` and no ``auth_time``, so step-up always refuses one). The
verifier then asks the revocation store, as for any JWT, on every request: a revoked token
is refused within one request in every replica, whatever this cache holds. A cached row
must not be trusted longer than Redis keeps a revoked session (``access TTL + leeway``):
past that the row itself has to say so; ``core_state`` keeps it under half of that.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from tessera_core.db.engine import Database
from tessera_core.db.models import roles_of
from tessera_core.db.unit_of_work import UnitOfWork
from tessera_core.errors import InvalidToken, TokenRevoked
from tessera_core.tokens.claims import AccessClaims
from tessera_core.tokens.pat import hash_personal_token, well_formed_personal_token
from tessera_core.tokens.pat_repository import PatRow, PersonalTokenRepository
from tessera_core.tokens.scopes import effective_scopes, format_scope

__all__ = ["PAT_AMR", "PAT_CLIENT_ID", "PersonalTokenVerifier", "claims_of"]

log = structlog.get_logger("tessera.tokens")

PAT_AMR = ("pat",)
PAT_CLIENT_ID = "personal-access-token"
# Rows kept per worker; the oldest goes first. Unknown hashes are kept too (as None), so a
# client repeating a made-up token with a valid checksum costs one query per interval.
CACHED_TOKENS_MAX = 4096


def claims_of(row: PatRow, issuer: str) -> AccessClaims:
    """What a token of ``row`` may do, as the claims of an access token: ``jti`` is the
    token's id, ``sid`` its session, ``iat`` its creation, ``exp`` its expiry."""
    roles = roles_of(is_admin=row.is_admin)
    scopes = effective_scopes(row.scope, roles)
    return AccessClaims(
        sub=str(row.user_id),
        sid=str(row.session_id),
        jti=str(row.id),
        iss=issuer,
        exp=int(row.expires_at.timestamp()),
        iat=int(row.created_at.timestamp()),
        client_id=PAT_CLIENT_ID,
        preferred_username=row.username,
        roles=roles,
        email_verified=row.email_verified,
        auth_time=None,
        amr=PAT_AMR,
        scopes=scopes,
        scope=format_scope(scopes),
    )


@dataclass(frozen=True, slots=True)
class _Cached:
    row: PatRow | None
    claims: AccessClaims | None
    until: float


class PersonalTokenVerifier:
    """The claims of a personal access token, from a per-worker cache of its row.

    Args:
        database: the worker's pool.
        issuer: the ``iss`` its claims carry (the deployment's).
        cache_seconds: how long a looked-up row is trusted; revocation is asked of Redis on
            every request regardless (by ``TokenVerifier``).
        flush_seconds: how often ``keep_last_used`` writes the last uses it saw.

    Example:
        >>> claims = await personal.claims("tsr_pat_…")  # doctest: +SKIP
        >>> claims.amr  # doctest: +SKIP
        ('pat',)
    """

    def __init__(
        self,
        database: Database,
        *,
        issuer: str,
        cache_seconds: float,
        flush_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.database = database
        self.issuer = issuer
        self.cache_seconds = cache_seconds
        self.flush_seconds = flush_seconds
        self.clock = clock
        self._cache: dict[bytes, _Cached] = {}
        self._loading: dict[bytes, asyncio.Future[_Cached]] = {}
        self._used: dict[str, float] = {}
        self._keeping = True

    async def claims(self, token: str) -> AccessClaims:
        """The claims of a live token; ``InvalidToken`` (malformed, unknown, expired) or
        ``TokenRevoked`` (its session revoked, its account inactive) otherwise."""
        if not well_formed_personal_token(token):
            raise InvalidToken("The personal access token is malformed.")
        now = self.clock()
        digest = hash_personal_token(token)
        cached = self._cache.get(digest)
        if cached is None or cached.until <= now:
            cached = await self._loaded(digest, now)
        row, claims = cached.row, cached.claims
        if row is None or claims is None:
            raise InvalidToken("The personal access token is not valid.")
        if row.session_revoked_at is not None:
            raise TokenRevoked("This personal access token has been revoked.")
        if not row.is_active:
            raise TokenRevoked("The account behind this token no longer exists or is inactive.")
        if claims.exp <= now:
            raise InvalidToken("The personal access token has expired.")
        return claims

    async def _loaded(self, digest: bytes, now: float) -> _Cached:
        """The row read once for every request that misses it at the same moment (a busy
        token's entry expiring under 32 concurrent requests was 32 queries, one suffices).
        Shielded: one caller going away does not cancel the others' read."""
        loading = self._loading.get(digest)
        if loading is None:
            loading = asyncio.ensure_future(self._load(digest, now))
            self._loading[digest] = loading
            loading.add_done_callback(lambda done: self._settled(digest, done))
        return await asyncio.shield(loading)

    def _settled(self, digest: bytes, done: asyncio.Future[_Cached]) -> None:
        self._loading.pop(digest, None)
        if not done.cancelled():
            done.exception()  # retrieved here: its waiters may all have gone away

    async def _load(self, digest: bytes, now: float) -> _Cached:
        async with UnitOfWork(self.database, writes=False) as work:
            row = await PersonalTokenRepository(work).find(digest)
        cached = _Cached(
            row, None if row is None else claims_of(row, self.issuer), now + self.cache_seconds
        )
        self._cache.pop(digest, None)
        if len(self._cache) >= CACHED_TOKENS_MAX:
            del self._cache[next(iter(self._cache))]
        self._cache[digest] = cached
        return cached

    def forget(self) -> None:
        """Drop every cached row (tests, and a worker that must re-read at once)."""
        self._cache.clear()

    def record_use(self, claims: AccessClaims) -> None:
        """Remember that a token was accepted now; ``flush`` writes it."""
        self._used[claims.jti] = self.clock()

    async def flush(self) -> int:
        """Write every last use seen since the previous flush, in one statement; how many
        tokens it named. A failed write keeps them for the next flush."""
        used, self._used = self._used, {}
        if not used:
            return 0
        try:
            async with UnitOfWork(self.database, writes=False) as work:
                await PersonalTokenRepository(work).record_use(
                    {
                        uuid.UUID(token_id): datetime.fromtimestamp(at, UTC)
                        for token_id, at in used.items()
                    }
                )
        except Exception:
            for token_id, at in used.items():
                self._used[token_id] = max(at, self._used.get(token_id, at))
            raise
        return len(used)

    async def keep_last_used(self) -> None:
        """Run for the life of the process: flush every ``flush_seconds`` (the service's
        lifespan flushes once more when it ends)."""
        while self._keeping:
            await asyncio.sleep(self.flush_seconds)
            try:
                await self.flush()
            except Exception:  # the loop must outlive any one failure (PostgreSQL down)
                log.warning("pat_last_used_flush_failed", pending=len(self._used))

    def stop_keeping(self) -> None:
        self._keeping = False
