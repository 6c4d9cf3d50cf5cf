"""The stores' clients: the PostgreSQL engine and unit of work (``engine``), the ORM
models (``models``), the Redis client (``redis_client``)."""

from tessera_core.db.engine import (
    Base,
    ReadPool,
    after_commit,
    make_engine,
    make_read_pool,
    make_read_session_factory,
    make_session_factory,
    session_scope,
    sqlalchemy_url,
)
from tessera_core.db.models import (
    AccountToken,
    LoginSession,
    MailOutbox,
    RefreshToken,
    RevokedAccessToken,
    User,
    UserIdentifier,
    roles_of,
    user_search_text,
)
from tessera_core.db.redis_client import RedisClient, make_redis

__all__ = [
    "AccountToken",
    "Base",
    "LoginSession",
    "MailOutbox",
    "ReadPool",
    "RedisClient",
    "RefreshToken",
    "RevokedAccessToken",
    "User",
    "UserIdentifier",
    "after_commit",
    "make_engine",
    "make_read_pool",
    "make_read_session_factory",
    "make_redis",
    "make_session_factory",
    "roles_of",
    "session_scope",
    "sqlalchemy_url",
    "user_search_text",
]
