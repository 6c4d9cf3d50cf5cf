"""The Redis client both services share: short timeouts so an outage fails fast (503)."""

from __future__ import annotations

from redis.asyncio import Redis

from tessera_core.settings import Settings

__all__ = [
    "make_redis",
]


def make_redis(settings: Settings) -> Redis:
    """Build a client from ``TESSERA_REDIS_URL`` (``rediss://`` and passwords work as usual).

    Example:
        >>> make_redis(Settings(redis_url="redis://localhost:6379/0"))  # doctest: +ELLIPSIS
        <redis.asyncio.client.Redis(...)>
    """
    return Redis.from_url(
        settings.redis_url.get_secret_value(),
        socket_timeout=settings.redis_timeout_seconds,
        socket_connect_timeout=settings.redis_timeout_seconds,
        health_check_interval=30,
        retry_on_timeout=False,
    )
