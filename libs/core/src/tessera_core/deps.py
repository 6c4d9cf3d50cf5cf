"""FastAPI dependencies both services use: the database session and the caller's token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import structlog
from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from tessera_core.db import session_scope
from tessera_core.errors import Forbidden, NotAuthenticated
from tessera_core.runtime import CoreState
from tessera_core.settings import Settings
from tessera_core.tokens import AccessClaims

# tokenUrl is what Swagger UI's "Authorize" button posts to (form-encoded, RFC 6749).
bearer_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def get_core(request: Request) -> CoreState:
    core: CoreState = request.app.state.core
    return core


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_db_session(
    core: Annotated[CoreState, Depends(get_core)],
) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed when the handler returns, rolled back on error."""
    async with session_scope(core.session_factory) as session:
        yield session


def get_redis(core: Annotated[CoreState, Depends(get_core)]) -> Redis:
    return core.redis


async def get_bearer_token(token: Annotated[str | None, Depends(bearer_scheme)]) -> str:
    if not token:
        raise NotAuthenticated("A Bearer access token is required.")
    return token


async def get_claims(
    token: Annotated[str, Depends(get_bearer_token)],
    core: Annotated[CoreState, Depends(get_core)],
) -> AccessClaims:
    claims = await core.verifier.verify(token)
    structlog.contextvars.bind_contextvars(user_id=claims.sub)
    return claims


async def get_admin_claims(claims: Annotated[AccessClaims, Depends(get_claims)]) -> AccessClaims:
    if not claims.is_admin:
        raise Forbidden("This endpoint is for administrators.")
    return claims


CoreDep = Annotated[CoreState, Depends(get_core)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[AsyncSession, Depends(get_db_session)]
RedisDep = Annotated[Redis, Depends(get_redis)]
BearerToken = Annotated[str, Depends(get_bearer_token)]
CurrentClaims = Annotated[AccessClaims, Depends(get_claims)]
AdminClaims = Annotated[AccessClaims, Depends(get_admin_claims)]
