from __future__ import annotations

from fastapi import APIRouter, status

from tessera_auth.accounts import service
from tessera_auth.accounts.errors import InvalidCurrentPassword, WeakPassword
from tessera_auth.accounts.schemas import PasswordChange, UserCreate
from tessera_auth.deps import AuthDep, SessionsDep, UsersDep
from tessera_auth.sessions import service as sessions_service
from tessera_core.accounts import EmailTaken, UsernameTaken
from tessera_core.deps import CoreDep, CurrentClaims
from tessera_core.errors import (
    BEARER_ERRORS,
    problem_responses,
)
from tessera_core.schemas import UserRead

router = APIRouter(prefix="/api/v1/auth", tags=["accounts"])


@router.post(
    "/register",
    response_model=UserRead,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(UsernameTaken, EmailTaken, WeakPassword),
)
async def register(data: UserCreate, users: UsersDep, auth: AuthDep) -> UserRead:
    """Create an account."""
    user = await service.register(users, auth.hasher, auth.common_passwords, data)
    return UserRead.model_validate(user)


@router.post(
    "/password",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(InvalidCurrentPassword, WeakPassword, *BEARER_ERRORS),
)
async def change_password(
    data: PasswordChange,
    claims: CurrentClaims,
    users: UsersDep,
    sessions: SessionsDep,
    auth: AuthDep,
    core: CoreDep,
) -> None:
    """Change the caller's password; every other session of theirs is revoked."""
    user = await users.get_token_user(claims.sub)
    await service.change_password(
        user,
        auth.hasher,
        auth.common_passwords,
        current_password=data.current_password,
        new_password=data.new_password,
    )
    await sessions_service.end_others(sessions, core.revocation, user.id, keep=claims.sid)
