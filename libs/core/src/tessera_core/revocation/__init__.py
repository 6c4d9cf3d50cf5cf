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

from tessera_core.revocation.keys import (
    EVICTING_POLICIES,
    bucket,
    jti_key,
    not_before_key,
    sid_key,
)
from tessera_core.revocation.store import Revocations, RevocationStore, Revoked

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
