"""TESSERA_REDIS_URL's forms: one server, a cluster, a Sentinel-watched primary."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import SSLConnection, UnixDomainSocketConnection
from redis.asyncio.sentinel import SentinelConnectionPool

from tessera_core.db.redis_client import make_redis
from tessera_core.settings import Settings


def client(url: str) -> Redis | RedisCluster:
    return make_redis(Settings(redis_url=url, redis_timeout_seconds=0.5))


def test_one_server():
    redis = client("rediss://:s3cret@cache.example:6380/2")
    assert isinstance(redis, Redis)
    kwargs = redis.connection_pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("cache.example", 6380, 2)
    assert kwargs["password"] == "s3cret"
    # Reads and connects wait half a second at most; writes are not timed (redis_client.py).
    assert (kwargs["read_timeout"], kwargs["socket_connect_timeout"]) == (0.5, 0.5)
    assert kwargs["socket_timeout"] is None
    assert issubclass(redis.connection_pool.connection_class, SSLConnection)


def test_a_unix_socket_keeps_its_connection_class():
    redis = client("unix:///run/redis.sock?db=1")
    assert isinstance(redis, Redis)
    assert issubclass(redis.connection_pool.connection_class, UnixDomainSocketConnection)
    assert redis.connection_pool.connection_kwargs["read_timeout"] == 0.5


def test_a_cluster_from_any_node():
    assert isinstance(client("redis+cluster://10.0.0.5:7000/0"), RedisCluster)


def test_a_sentinel_primary():
    redis = client("redis+sentinel://:pw%40x@s1:26379,s2:26380/primary/3")
    assert isinstance(redis, Redis)
    pool = redis.connection_pool
    assert isinstance(pool, SentinelConnectionPool)
    assert pool.service_name == "primary"
    assert pool.connection_kwargs["db"] == 3
    assert pool.connection_kwargs["password"] == "pw@x"
    sentinels = [c.connection_pool.connection_kwargs for c in pool.sentinel_manager.sentinels]
    assert [(s["host"], s["port"]) for s in sentinels] == [("s1", 26379), ("s2", 26380)]


def test_a_sentinel_url_names_its_service():
    with pytest.raises(ValueError, match="names the service"):
        client("redis+sentinel://s1:26379")
