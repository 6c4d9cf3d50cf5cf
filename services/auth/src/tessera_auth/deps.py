"""Dependencies of the auth service's routes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from tessera_auth.accounts.repository import UserRepository
from tessera_auth.accounts.throttle import LoginThrottle
from tessera_auth.keys.keystore import KeyStore
from tessera_auth.sessions.repository import SessionRepository
from tessera_auth.sessions.service import ClientInfo
from tessera_auth.tokens.issuer import AccessTokenIssuer
from tessera_core.deps import CoreDep, SessionDep, SettingsDep, bearer_scheme
from tessera_core.errors import InvalidToken, TokenRevoked
from tessera_core.passwords import PasswordHasher
from tessera_core.tokens import AccessClaims


@dataclass
class AuthState:
    keys: KeyStore
    hasher: PasswordHasher
    throttle: LoginThrottle
    issuer: AccessTokenIssuer
    common_passwords: frozenset[str]


def get_auth_state(request: Request) -> AuthState:
    state: AuthState = request.app.state.auth
    return state


def get_users(session: SessionDep) -> UserRepository:
    return UserRepository(session)


def get_sessions(session: SessionDep) -> SessionRepository:
    return SessionRepository(session)


def get_client_info(request: Request, settings: SettingsDep) -> ClientInfo:
    return ClientInfo(
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
        client_id=settings.default_client_id,
    )


async def get_optional_claims(
    token: Annotated[str | None, Depends(bearer_scheme)], core: CoreDep
) -> AccessClaims | None:
    """The caller's claims when a usable Bearer token came along; logout works without one."""
    if not token:
        return None
    try:
        return await core.verifier.verify(token)
    except (InvalidToken, TokenRevoked):
        return None


AuthDep = Annotated[AuthState, Depends(get_auth_state)]
UsersDep = Annotated[UserRepository, Depends(get_users)]
SessionsDep = Annotated[SessionRepository, Depends(get_sessions)]
ClientDep = Annotated[ClientInfo, Depends(get_client_info)]
OptionalClaims = Annotated[AccessClaims | None, Depends(get_optional_claims)]
