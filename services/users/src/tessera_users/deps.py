"""Dependencies of the users service's routes: repositories, the caller, the admin, and
the user a route's ``{user_id}`` names (loaded once, or 404)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from tessera_core.accounts import UserRepository
from tessera_core.deps import AdminClaims, CurrentClaims, SessionDep
from tessera_core.errors import Forbidden
from tessera_core.models import User
from tessera_core.tokens import AccessClaims
from tessera_users.admin.cursor import CursorCodec
from tessera_users.admin.repository import UserListRepository
from tessera_users.profiles import service as profiles


@dataclass(frozen=True)
class UsersState:
    cursors: CursorCodec


def get_users_state(request: Request) -> UsersState:
    state: UsersState = request.app.state.users
    return state


def get_user_repository(session: SessionDep) -> UserRepository:
    return UserRepository(session)


def get_list_repository(session: SessionDep) -> UserListRepository:
    return UserListRepository(session)


UsersStateDep = Annotated[UsersState, Depends(get_users_state)]
UsersDep = Annotated[UserRepository, Depends(get_user_repository)]
ListDep = Annotated[UserListRepository, Depends(get_list_repository)]


async def _caller(claims: AccessClaims, users: UserRepository) -> profiles.Caller:
    return profiles.Caller(claims=claims, user=await users.get_token_user(claims.sub))


async def get_caller(claims: CurrentClaims, users: UsersDep) -> profiles.Caller:
    return await _caller(claims, users)


async def get_admin(claims: AdminClaims, users: UsersDep) -> profiles.Caller:
    """The admin claim first (no query), then the admin's row: still active, still admin."""
    caller = await _caller(claims, users)
    if not caller.is_admin:
        raise Forbidden("This endpoint is for administrators.")
    return caller


CallerDep = Annotated[profiles.Caller, Depends(get_caller)]
AdminDep = Annotated[profiles.Caller, Depends(get_admin)]


async def get_target_user(user_id: uuid.UUID, caller: CallerDep, users: UsersDep) -> User:
    """The user of the path, if the caller may see it; else 404."""
    return await profiles.get_visible(users, caller, user_id)


TargetUser = Annotated[User, Depends(get_target_user)]
