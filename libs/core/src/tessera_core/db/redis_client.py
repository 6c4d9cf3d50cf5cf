"""The Redis client both services share: short timeouts so an outage fails fast (503).

``TESSERA_REDIS_URL`` takes three forms:

- ``redis://`` / ``rediss://`` (TLS): one server, or a managed endpoint;
- ``redis+cluster://host:port/0`` (or ``rediss+cluster://``): a Redis Cluster, found from
  any one of its nodes;
- ``redis+sentinel://host:26379,host2:26379/<service>/0``: the primary Sentinel names for
  ``<service>``, followed across failovers (``rediss+sentinel://`` for TLS to the servers).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from tessera_core.settings import Settings

__all__ = [
    "RedisClient",
    "make_redis",
]

RedisClient = Redis | RedisCluster


def make_redis(settings: Settings) -> RedisClient:
    """Build a client from ``TESSERA_REDIS_URL`` (passwords and TLS work as usual).

    Example:
        >>> make_redis(Settings(redis_url="redis://localhost:6379/0"))  # doctest: +ELLIPSIS
        <redis.asyncio.client.Redis(...)>
        >>> type(make_redis(Settings(redis_url="redis+cluster://localhost:7000/0"))).__name__
        'RedisCluster'
    """
    url = settings.redis_url.get_secret_value()
    timeouts: dict[str, Any] = {
        "socket_timeout": settings.redis_timeout_seconds,
        "socket_connect_timeout": settings.redis_timeout_seconds,
    }
    # A pooled connection that Redis dropped while it sat idle (a restart, a failover)
    # fails its next command: that command is sent once more on a new connection, so a
    # restart costs no request a 503. Only a dropped connection is retried, never a timeout,
    # so an outage still answers within one timeout. (A command Redis ran before the drop
    # runs twice: a limiter counts one attempt twice, a revocation is written twice.)
    reconnect_once = Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))
    scheme, _, rest = url.partition("://")
    if scheme in ("redis+cluster", "rediss+cluster"):
        return RedisCluster.from_url(f"{scheme.split('+')[0]}://{rest}", **timeouts)
    if scheme in ("redis+sentinel", "rediss+sentinel"):
        return _sentinel_primary(
            url, tls=scheme.startswith("rediss"), timeouts={**timeouts, "retry": reconnect_once}
        )
    return Redis.from_url(url, health_check_interval=30, retry=reconnect_once, **timeouts)


def _sentinel_primary(url: str, *, tls: bool, timeouts: dict[str, Any]) -> Redis:
    parts = urlsplit(url)
    hosts = []
    for node in parts.netloc.rpartition("@")[2].split(","):
        host, _, port = node.rpartition(":")
        hosts.append((host or node, int(port or 26379)))
    service, _, database = parts.path.strip("/").partition("/")
    if not service:
        raise ValueError("a redis+sentinel:// URL names the service: .../<service>/<db>")
    password = unquote(parts.password) if parts.password else None
    sentinel = Sentinel(hosts, sentinel_kwargs=timeouts, **timeouts)  # type: ignore[no-untyped-call]
    primary: Redis = sentinel.master_for(service, db=int(database or 0), ssl=tls, password=password)
    return primary
