"""The Redis client both services share: short timeouts so an outage fails fast (503).

``TESSERA_REDIS_URL`` takes three forms:

- ``redis://`` / ``rediss://`` (TLS): one server, or a managed endpoint;
- ``redis+cluster://host:port/0`` (or ``rediss+cluster://``): a Redis Cluster, found from
  any one of its nodes;
- ``redis+sentinel://host:26379,host2:26379/<service>/0``: the primary Sentinel names for
  ``<service>``, followed across failovers (``rediss+sentinel://`` for TLS to the servers).
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import unquote, urlsplit

from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

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
    timeout = settings.redis_timeout_seconds
    timeouts: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
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
    pool = ConnectionPool.from_url(
        url,
        health_check_interval=30,
        retry=reconnect_once,
        socket_connect_timeout=timeout,
        socket_timeout=None,
    )
    # The URL chooses the class (TLS, a Unix socket); reads keep the timeout (see below).
    pool.connection_class = _timed_reads(pool.connection_class)
    pool.connection_kwargs["read_timeout"] = timeout
    return Redis.from_pool(pool)


class _TimedReads(AbstractConnection):
    """A connection whose reads wait ``read_timeout`` at most and whose writes do not wait.

    redis-py bounds each write with ``asyncio.wait_for``, which on Python 3.11 runs the write
    as a task of its own: 5-6 % of a token check's CPU on uvloop, 8-14 % on asyncio's own
    loop (measured, docs/benchmarks.md "After (6)"). A
    command of a few hundred bytes goes to the kernel's buffer without waiting, and a
    server that stops answering is caught by the read that follows, so an outage still
    answers within one timeout. (A cluster's and a Sentinel's connections are redis-py's own,
    which time writes as well.)"""

    def __init__(self, *, read_timeout: float | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.read_timeout = read_timeout

    async def read_response(
        self,
        disable_decoding: bool = False,
        timeout: float | None = None,  # noqa: ASYNC109 (redis-py's signature)
        **kwargs: Any,
    ) -> Any:
        if timeout is not None:  # a caller's own bound (pub/sub polling) keeps its meaning
            return await super().read_response(disable_decoding, timeout, **kwargs)
        try:
            async with asyncio.timeout(self.read_timeout):
                return await super().read_response(disable_decoding, **kwargs)
        except TimeoutError as exc:
            await self.disconnect(nowait=True)
            raise RedisTimeoutError(f"Timeout reading from {self._host_error()}") from exc


def _timed_reads(base: type[AbstractConnection]) -> type[AbstractConnection]:
    return type(f"TimedReads{base.__name__}", (_TimedReads, base), {})


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
