"""The dependencies every folder's routes share: the service's state and the caller (the
``user`` table's repository is ``tessera_core.web.deps.UserRepositoryDep``). The profile
routes' own are in ``profiles/deps.py``; this module imports nothing above ``state`` and
``caller``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from tessera_core.errors import Forbidden
from tessera_core.tokens import AccessClaims
from tessera_core.web.deps import (
    AdminClaims,
    CurrentClaims,
    RevokingAdminClaims,
    RevokingClaims,
    UserRepositoryDep,
)
from tessera_users.caller import Caller, WritingCaller
from tessera_users.state import UsersState

__all__ = [
    "AdminCaller",
    "CurrentCaller",
    "RevokingAdminCaller",
    "RevokingCaller",
    "UsersStateDep",
    "get_admin_caller",
    "get_current_caller",
    "get_revoking_admin_caller",
    "get_revoking_caller",
    "get_users_state",
]


async def get_users_state(request: Request) -> UsersState:
    state: UsersState = request.state.users
    return state


UsersStateDep = Annotated[UsersState, Depends(get_users_state)]


async def _caller(claims: AccessClaims, users: UserRepositoryDep) -> WritingCaller:
    return WritingCaller(claims=claims, user=await users.token_user_to_change(claims.sub))


async def get_current_caller(claims: CurrentClaims, users: UserRepositoryDep) -> Caller:
    """The caller of a route that only reads (every ``CurrentCaller`` and ``AdminCaller``
    route is a GET): their row as the unit of work reads it."""
    return Caller(claims=claims, user=await users.token_user(claims.sub))


def _admin(caller: Caller) -> Caller:
    """The admin claim first (no query), then the admin's row: still active, still admin."""
    if not caller.is_admin:
        raise Forbidden("This endpoint is for administrators.")
    return caller


async def get_admin_caller(claims: AdminClaims, users: UserRepositoryDep) -> Caller:
    return _admin(await get_current_caller(claims, users))


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
