"""Dependencies of the users service's routes, each alias named for what it yields:
repositories, the caller, the admin, and the user a route's ``{user_id}`` names (loaded
once, or 404)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Request

from tessera_core.accounts.users import UserRepository, read_token_user
from tessera_core.db.models import User
from tessera_core.errors import Forbidden
from tessera_core.mail import AccountMail
from tessera_core.tokens import AccessClaims
from tessera_core.web.deps import (
    AdminClaims,
    CoreStateDep,
    CurrentClaims,
    DbSessionDep,
    RevokingAdminClaims,
    RevokingClaims,
    SettingsDep,
)
from tessera_users.admin.repository import UserListRepository
from tessera_users.caller import Caller
from tessera_users.profiles import service as profiles
from tessera_users.profiles.service import Reauthentication
from tessera_users.state import UsersState

__all__ = [
    "AccountMailDep",
    "AdminCaller",
    "CurrentCaller",
    "ReauthenticationDep",
    "RevokingAdminCaller",
    "RevokingCaller",
    "RevokingTargetUser",
    "TargetUser",
    "UserListRepositoryDep",
    "UserRepositoryDep",
    "UsersStateDep",
    "get_account_mail",
    "get_admin_caller",
    "get_current_caller",
    "get_reauthentication",
    "get_revoking_admin_caller",
    "get_revoking_caller",
    "get_revoking_target_user",
    "get_target_user",
    "get_user_list_repository",
    "get_user_repository",
    "get_users_state",
]


async def get_users_state(request: Request) -> UsersState:
    state: UsersState = request.state.users
    return state


async def get_user_repository(db: DbSessionDep) -> UserRepository:
    return UserRepository(db)


async def get_user_list_repository(core: CoreStateDep) -> UserListRepository:
    return UserListRepository(core.read_pool)


UsersStateDep = Annotated[UsersState, Depends(get_users_state)]


async def get_reauthentication(
    request: Request, state: UsersStateDep, settings: SettingsDep
) -> Reauthentication:
    return Reauthentication(
        state.hasher,
        state.throttle,
        request.client.host if request.client else None,
        state.email_change_limit,
        settings.email_changes_per_account,
    )


ReauthenticationDep = Annotated[Reauthentication, Depends(get_reauthentication)]


async def get_account_mail(
    db: DbSessionDep, state: UsersStateDep, settings: SettingsDep
) -> AccountMail:
    """Mail of this request, written to the shared outbox in its transaction."""
    return AccountMail.in_session(db, state.mail_templates, settings, state.mail_budget)


AccountMailDep = Annotated[AccountMail, Depends(get_account_mail)]
UserRepositoryDep = Annotated[UserRepository, Depends(get_user_repository)]
UserListRepositoryDep = Annotated[UserListRepository, Depends(get_user_list_repository)]


async def _caller(claims: AccessClaims, users: UserRepository) -> Caller:
    return Caller(claims=claims, user=await users.get_token_user(claims.sub))


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
async def get_revoking_caller(claims: RevokingClaims, users: UserRepositoryDep) -> Caller:
    return await _caller(claims, users)


async def get_revoking_admin_caller(
    claims: RevokingAdminClaims, users: UserRepositoryDep
) -> Caller:
    return _admin(await _caller(claims, users))


CurrentCaller = Annotated[Caller, Depends(get_current_caller)]
AdminCaller = Annotated[Caller, Depends(get_admin_caller)]
RevokingCaller = Annotated[Caller, Depends(get_revoking_caller)]
RevokingAdminCaller = Annotated[Caller, Depends(get_revoking_admin_caller)]


async def get_target_user(
    user_id: uuid.UUID, caller: CurrentCaller, users: UserRepositoryDep
) -> User:
    """The user of the path, if the caller may see it; else 404."""
    return await profiles.get_visible(users, caller, user_id)


async def get_revoking_target_user(
    user_id: uuid.UUID, caller: RevokingCaller, users: UserRepositoryDep
) -> User:
    return await profiles.get_visible(users, caller, user_id)


TargetUser = Annotated[User, Depends(get_target_user)]
RevokingTargetUser = Annotated[User, Depends(get_revoking_target_user)]
