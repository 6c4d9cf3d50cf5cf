"""The stores' clients: the PostgreSQL engine (``engine``), a request's unit of work on it
(``unit_of_work``), the ORM models (``models``), the Redis client (``redis_client``)."""

from tessera_core.db.engine import (
    Base,
    Database,
    after_commit,
    make_read_session_factory,
    make_session_factory,
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
from tessera_core.db.unit_of_work import UnitOfWork

__all__ = [
    "AccountToken",
    "Base",
    "Database",
    "LoginSession",
    "MailOutbox",
    "RedisClient",
    "RefreshToken",
    "RevokedAccessToken",
    "UnitOfWork",
    "User",
    "UserIdentifier",
    "after_commit",
    "make_read_session_factory",
    "make_redis",
    "make_session_factory",
    "roles_of",
    "sqlalchemy_url",
    "user_search_text",
]
