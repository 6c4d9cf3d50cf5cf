from __future__ import annotations

from fastapi import APIRouter

from tessera_core.accounts.step_up import InsufficientUserAuthentication
from tessera_core.accounts.throttle import ThrottleUnavailable, TooManyAttempts, TooManyRequests
from tessera_core.accounts.users import EmailTaken
from tessera_core.errors import (
    BEARER_ERRORS,
    problem_responses,
)
from tessera_core.schemas import AdminUserRead, UserRead
from tessera_core.tokens.scopes import PROFILE_READ, PROFILE_WRITE
from tessera_core.web.deps import RevocationsDep, UserRepositoryDep, requires
from tessera_core.web.routing import LeanRoute
from tessera_users.deps import CurrentCaller, RevokingCaller
from tessera_users.profiles import service
from tessera_users.profiles.deps import (
    AccountMailDep,
    ReauthenticationDep,
    RevokingTargetUser,
    TargetUser,
)
from tessera_users.profiles.errors import (
    ForbiddenField,
    ReauthenticationRequired,
    SelfLockout,
    UserNotFound,
)
from tessera_users.profiles.schemas import UserUpdate

__all__ = ["me_router", "router"]

router = APIRouter(prefix="/api/v1/users", tags=["profiles"])
# Every client page asks for the caller's profile: a LeanRoute.
me_router = APIRouter(prefix="/api/v1/users", tags=["profiles"], route_class=LeanRoute)
UPDATE_ERRORS = (
    EmailTaken,
    InsufficientUserAuthentication,
    ForbiddenField,
    ReauthenticationRequired,
    SelfLockout,
    TooManyAttempts,
    TooManyRequests,
    ThrottleUnavailable,
)


@me_router.get(
    "/me",
    dependencies=[requires(PROFILE_READ)],
    response_model=UserRead,
    responses=problem_responses(*BEARER_ERRORS),
)
async def read_me(caller: CurrentCaller) -> UserRead:
    """The caller's own profile."""
    return UserRead.model_validate(caller.user)


@router.patch(
    "/me",
    dependencies=[requires(PROFILE_WRITE)],
    response_model=UserRead,
    responses=problem_responses(*UPDATE_ERRORS, *BEARER_ERRORS),
)
async def update_me(
    data: UserUpdate,
    caller: RevokingCaller,
    users: UserRepositoryDep,
    revocations: RevocationsDep,
    reauthentication: ReauthenticationDep,
    mail: AccountMailDep,
) -> UserRead:
    """Change the caller's own profile; a new email needs `current_password`."""
    user = await service.update(
        users, revocations, reauthentication, mail, caller, caller.user, data
    )
    return UserRead.model_validate(user)


@router.get(
    "/{user_id}",
    dependencies=[requires(PROFILE_READ)],
    response_model=AdminUserRead,
    responses=problem_responses(UserNotFound, *BEARER_ERRORS),
)
async def read_user(user: TargetUser) -> AdminUserRead:
    """One user: the caller themselves, or anyone for an admin; `is_service` tells a
    service account from a person."""
    return AdminUserRead.model_validate(user)


@router.patch(
    "/{user_id}",
    dependencies=[requires(PROFILE_WRITE)],
    response_model=AdminUserRead,
    responses=problem_responses(UserNotFound, *UPDATE_ERRORS, *BEARER_ERRORS),
)
async def update_user(
    data: UserUpdate,
    user: RevokingTargetUser,
    caller: RevokingCaller,
    users: UserRepositoryDep,
    revocations: RevocationsDep,
    reauthentication: ReauthenticationDep,
    mail: AccountMailDep,
) -> AdminUserRead:
    """Change a user: the caller themselves, or anyone for an admin. A new email needs the
    caller's `current_password`. Deactivating a user or changing their admin flag revokes
    every session of theirs."""
    updated = await service.update(users, revocations, reauthentication, mail, caller, user, data)
    return AdminUserRead.model_validate(updated)
