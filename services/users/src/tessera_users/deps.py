"""The dependencies every folder's routes share: the service's state, the user repository
and the caller. The profile routes' own are in ``profiles/deps.py``, the listing's in
``admin/deps.py``; this module imports nothing above ``state`` and ``caller``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from tessera_core.accounts.users import UserRepository, read_token_user, token_user_to_change
from tessera_core.errors import Forbidden
from tessera_core.tokens import AccessClaims
from tessera_core.web.deps import (
    AdminClaims,
    CurrentClaims,
    DbSessionDep,
    RevokingAdminClaims,
    RevokingClaims,
    UnitOfWorkDep,
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


async def _caller(claims: AccessClaims, work: UnitOfWorkDep) -> WritingCaller:
    return WritingCaller(claims=claims, user=await token_user_to_change(work, claims.sub))


async def get_current_caller(claims: CurrentClaims, work: UnitOfWorkDep) -> Caller:
    """The caller of a route that only reads (every ``CurrentCaller`` and ``AdminCaller``
    route is a GET): their row as the unit of work reads it."""
    return Caller(claims=claims, user=await read_token_user(work, claims.sub))


def _admin(caller: Caller) -> Caller:
    """The admin claim first (no query), then the admin's row: still active, still admin."""
    if not caller.is_admin:
        raise Forbidden("This endpoint is for administrators.")
    return caller


async def get_admin_caller(claims: AdminClaims, work: UnitOfWorkDep) -> Caller:
    return _admin(await get_current_caller(claims, work))


# The callers of routes that can revoke (deactivation, a change of the admin flag): their
# tokens are checked in PostgreSQL when Redis cannot answer (``tessera_core.web.deps``).
async def get_revoking_caller(claims: RevokingClaims, work: UnitOfWorkDep) -> WritingCaller:
    return await _caller(claims, work)


async def get_revoking_admin_caller(claims: RevokingAdminClaims, work: UnitOfWorkDep) -> Caller:
    return _admin(await _caller(claims, work))


CurrentCaller = Annotated[Caller, Depends(get_current_caller)]
AdminCaller = Annotated[Caller, Depends(get_admin_caller)]
RevokingCaller = Annotated[WritingCaller, Depends(get_revoking_caller)]
RevokingAdminCaller = Annotated[Caller, Depends(get_revoking_admin_caller)]
