from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from tessera_core.accounts.step_up import InsufficientUserAuthentication
from tessera_core.errors import (
    ADMIN_ERRORS,
    problem_responses,
)
from tessera_core.tokens.scopes import USERS_READ, USERS_WRITE
from tessera_core.web.deps import RevocationsDep, StepUpGuardDep, UserRepositoryDep, requires
from tessera_core.web.routing import LeanRoute
from tessera_users.admin import service
from tessera_users.admin.schemas import ListingParameters, UserPage
from tessera_users.admin.service import UserListQuery
from tessera_users.cursor import InvalidCursor
from tessera_users.deps import AdminCaller, RevokingAdminCaller, UsersStateDep
from tessera_users.profiles import service as profiles
from tessera_users.profiles.errors import SelfLockout, UserNotFound

__all__ = ["listing_router", "router"]

router = APIRouter(prefix="/api/v1/users", tags=["admin"])
# The console and every admin tool page through users: a LeanRoute.
listing_router = APIRouter(prefix="/api/v1/users", tags=["admin"], route_class=LeanRoute)


@listing_router.get(
    "",
    dependencies=[requires(USERS_READ)],
    response_model=UserPage,
    # ``total`` only when asked for (include_total=true).
    response_model_exclude_unset=True,
    responses=problem_responses(InvalidCursor, *ADMIN_ERRORS),
)
async def list_users(
    admin: AdminCaller,
    users: UserRepositoryDep,
    state: UsersStateDep,
    parameters: Annotated[ListingParameters, Query()],
) -> UserPage:
    """List users, a page at a time (keyset pagination)."""
    return await service.list_users(users, state.cursors, UserListQuery.of(parameters))


@router.delete(
    "/{user_id}",
    dependencies=[requires(USERS_WRITE)],
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(
        UserNotFound, SelfLockout, InsufficientUserAuthentication, *ADMIN_ERRORS
    ),
)
async def delete_user(
    user_id: uuid.UUID,
    admin: RevokingAdminCaller,
    users: UserRepositoryDep,
    revocations: RevocationsDep,
    step_up: StepUpGuardDep,
) -> None:
    """Deactivate an account and revoke every session of it. Needs a recent login of the
    admin's, with a second factor where their account has one."""
    await profiles.deactivate(users, revocations, admin, user_id, step_up)
