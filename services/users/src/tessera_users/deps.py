"""The dependencies every folder's routes share: the service's state, the user repository
and the caller. The profile routes' own are in ``profiles/deps.py``, the listing's in
``admin/deps.py``; this module imports nothing above ``state`` and ``caller``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from tessera_core.accounts.users import UserRepository, read_token_user
from tessera_core.errors import Forbidden
from tessera_core.tokens import AccessClaims
from tessera_core.web.deps import (
    AdminClaims,
    CoreStateDep,
    CurrentClaims,
    DbSessionDep,
    RevokingAdminClaims,
    RevokingClaims,
)
from tessera_users.caller import Caller, WritingCaller
from tessera_users.state import UsersState

__all__ = [
    "AdminCaller",
    "CurrentCaller",
    "RevokingAdminCaller",
    "RevokingCaller",
    "UserRepositoryDep",
    "UsersStateDep",
    "get_admin_caller",
    "get_current_caller",
    "get_revoking_admin_caller",
    "get_revoking_caller",
    "get_user_repository",
    "get_users_state",
]


async def get_users_state(request: Request) -> UsersState:
    state: UsersState = request.state.users
    return state


async def get_user_repository(db: DbSessionDep) -> UserRepository:
    return UserRepository(db)


UsersStateDep = Annotated[UsersState, Depends(get_users_state)]
UserRepositoryDep = Annotated[UserRepository, Depends(get_user_repository)]


async def _caller(claims: AccessClaims, users: UserRepository) -> WritingCaller:
    return WritingCaller(claims=claims, user=await users.get_token_user(claims.sub))


async def get_current_caller(claims: CurrentClaims, core: CoreStateDep) -> Caller:
    """The caller of a route that only reads (every ``CurrentCaller`` and ``AdminCaller``
    route is a GET): their row from the read pool, not the request's session."""
    return Caller(claims=claims, user=await read_token_user(core.read_pool, claims.sub))


def _admin(caller: Caller) -> Caller:
    """The admin claim first (no query), then the admin's row: still active, still admin."""
    if not caller.is_admin:
        raise Forbidden("This endpoint is for administrators.")
    return caller


async def get_admin_caller(claims: AdminClaims, core: CoreStateDep) -> Caller:
    return _admin(await get_current_caller(claims, core))


# The callers of routes that can revoke (deactivation, a change of the admin flag): their
# tokens are checked in PostgreSQL when Redis cannot answer (``tessera_core.web.deps``).
async def get_revoking_caller(claims: RevokingClaims, users: UserRepositoryDep) -> WritingCaller:
    return await _caller(claims, users)


async def get_revoking_admin_caller(
    claims: RevokingAdminClaims, users: UserRepositoryDep
) -> Caller:
    return _admin(await _caller(claims, users))


CurrentCaller = Annotated[Caller, Depends(get_current_caller)]
AdminCaller = Annotated[Caller, Depends(get_admin_caller)]
RevokingCaller = Annotated[WritingCaller, Depends(get_revoking_caller)]
RevokingAdminCaller = Annotated[Caller, Depends(get_revoking_admin_caller)]
