from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from tessera_core.deps import RevocationsDep
from tessera_core.errors import (
    BEARER_ERRORS,
    Forbidden,
    problem_responses,
)
from tessera_core.schemas import Text
from tessera_users.admin import service
from tessera_users.admin.errors import InvalidCursor
from tessera_users.admin.repository import UserFilters
from tessera_users.admin.schemas import Ordering, UserPage
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
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[
        Text | None, Query(max_length=1024, description="`next_cursor` of the previous page")
    ] = None,
    search: Annotated[
        Text | None,
        Query(max_length=100, description="Substring of username, email or nickname, any case"),
    ] = None,
    is_active: bool | None = None,
    is_admin: bool | None = None,
    email_verified: bool | None = None,
    ordering: Annotated[
        Ordering, Query(description="`username` sorts case-insensitively; ties cannot occur")
    ] = "date_joined",
    include_total: Annotated[
        bool, Query(description="Also count the matching users (costs a count)")
    ] = False,
) -> Response:
    """List users, a page at a time (keyset pagination)."""
    query = service.UserListQuery(
        ordering=ordering,
        limit=limit,
        cursor=cursor or None,
        filters=UserFilters(
            search=(search or "").strip() or None,
            is_active=is_active,
            is_admin=is_admin,
            email_verified=email_verified,
        ),
        include_total=include_total,
    )
    page = await service.list_users(repository, state.cursors, query)
    # Validated once, from the rows; FastAPI would validate the model a second time.
    return Response(page.model_dump_json(exclude_unset=True), media_type="application/json")


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
