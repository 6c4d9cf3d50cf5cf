from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from fastapi.routing import APIRoute

from tessera_core.deps import RevocationsDep
from tessera_core.errors import (
    BEARER_ERRORS,
    Forbidden,
    problem_responses,
)
from tessera_users.admin import service
from tessera_users.admin.errors import InvalidCursor
from tessera_users.admin.schemas import ListingParameters, UserPage
from tessera_users.admin.service import UserListQuery
from tessera_users.deps import (
    AdminCaller,
    RevokingAdminCaller,
    UserListRepositoryDep,
    UserRepositoryDep,
    UsersStateDep,
)
from tessera_users.profiles import service as profiles
from tessera_users.profiles.errors import SelfLockout, UserNotFound

router = APIRouter(prefix="/api/v1/users", tags=["admin"])
ADMIN_ERRORS = (*BEARER_ERRORS, Forbidden)


@router.get(
    "",
    response_model=UserPage,
    responses=problem_responses(InvalidCursor, *ADMIN_ERRORS),
)
async def list_users(
    admin: AdminCaller,
    repository: UserListRepositoryDep,
    state: UsersStateDep,
    parameters: Annotated[ListingParameters, Query()],
) -> Response:
    """List users, a page at a time (keyset pagination). Answered by ``hot_path.list_users``
    before it gets here, unless that hands the request back."""
    page = await service.list_users(repository, state.cursors, UserListQuery.of(parameters))
    # Validated once, from the rows; FastAPI would validate the model a second time.
    return Response(page.model_dump_json(exclude_unset=True), media_type="application/json")


list_route = next(r for r in router.routes if isinstance(r, APIRoute) and r.endpoint is list_users)


@router.delete(
    "/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(UserNotFound, SelfLockout, *ADMIN_ERRORS),
)
async def delete_user(
    user_id: uuid.UUID,
    admin: RevokingAdminCaller,
    users: UserRepositoryDep,
    revocations: RevocationsDep,
) -> None:
    """Deactivate an account and revoke every session of it."""
    await profiles.deactivate(users, revocations, admin, user_id)
