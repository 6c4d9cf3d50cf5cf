"""Where revocations live in Redis: one bucket's keys share a hash tag (one Redis Cluster
slot), each bucket has an epoch marker, and the resync keeps its bookkeeping in one slot."""

from __future__ import annotations

import uuid
import zlib

__all__ = [
    "ALL_BUCKETS",
    "ALL_GUARDS",
    "ALL_MARKERS",
    "BUCKETS",
    "EVICTING_POLICIES",
    "KEEP_LATEST",
    "MARK_WHOLE",
    "PREFIX",
    "RELEASE_LOCK",
    "RESYNC_COMPLETED",
    "RESYNC_DUE",
    "RESYNC_LOCK",
    "RESYNC_LOCK_SECONDS",
    "RESYNC_STARTED",
    "RESYNC_WAIT_SECONDS",
    "SENTINEL_MARKER",
    "SET_GUARDS",
    "Entry",
    "as_uuid",
    "bucket",
    "epoch_marker",
    "jti_key",
    "not_before_key",
    "resync_guard",
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
# Sets each bucket's marker only if the guard this resync wrote before its keys is still
# there (KEYS: guard, marker of each bucket in turn; ARGV: the resync's number, the epoch):
# Redis that lost its data meanwhile lost the guard too, so no marker ever stands over keys
# that are gone. Answers how many buckets it marked.
MARK_WHOLE = """
local marked = 0
for i = 1, #KEYS, 2 do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    redis.call('SET', KEYS[i + 1], ARGV[2])
    redis.call('DEL', KEYS[i])
    marked = marked + 1
  end
end
return marked
"""
# Sets every guard in KEYS to the resync's number (ARGV: number, seconds to live).
SET_GUARDS = """
for _, key in ipairs(KEYS) do
  redis.call('SET', key, ARGV[1], 'EX', ARGV[2])
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


def resync_guard(tag: str) -> str:
    """What a resync writes in a bucket before its keys, and needs there to mark it whole."""
    return f"{PREFIX}{tag}:resync-guard"


ALL_BUCKETS = tuple(f"{{rv{n}}}" for n in range(BUCKETS))
# Every bucket's resync guard and epoch marker, in bucket order: a resync writes them all.
ALL_GUARDS = tuple(resync_guard(tag) for tag in ALL_BUCKETS)
ALL_MARKERS = tuple(epoch_marker(tag) for tag in ALL_BUCKETS)
# The bucket ping() looks at; each request's check looks at its own.
SENTINEL_MARKER = epoch_marker(ALL_BUCKETS[0])


def as_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
