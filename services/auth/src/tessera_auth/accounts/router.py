from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from tessera_auth.accounts import service
from tessera_auth.accounts.deps import AccountMailDep, AccountTokenRepositoryDep
from tessera_auth.accounts.errors import InvalidCurrentPassword, WeakPassword
from tessera_auth.accounts.schemas import PasswordChange, UserCreate
from tessera_auth.deps import AuthStateDep, ClientInfoDep
from tessera_core.accounts.step_up import InsufficientUserAuthentication
from tessera_core.accounts.throttle import ThrottleUnavailable, TooManyAttempts, TooManyRequests
from tessera_core.accounts.users import EmailTaken, UsernameTaken
from tessera_core.errors import BEARER_ERRORS, problem_responses
from tessera_core.schemas import UserRead
from tessera_core.tokens.scopes import PROFILE_WRITE
from tessera_core.web.deps import (
    RevocationsDep,
    SettingsDep,
    SteppedUpClaims,
    UserRepositoryDep,
    requires,
)

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/auth", tags=["accounts"])


@router.post(
    "/register",
    response_model=UserRead,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(
        UsernameTaken, EmailTaken, WeakPassword, TooManyRequests, ThrottleUnavailable
    ),
)
async def register(
    data: UserCreate,
    users: UserRepositoryDep,
    mail: AccountMailDep,
    auth: AuthStateDep,
    settings: SettingsDep,
    client: ClientInfoDep,
) -> UserRead:
    """Create an account; a verification link is mailed to its address."""
    # Each registration mails the address it is given: limited per client.
    await auth.register_limit.hit(
        ("client", client.ip or "unknown", settings.registrations_per_client)
    )
    user = await service.register(users, auth.hasher, auth.common_passwords, mail, data)
    return UserRead.model_validate(user)


@router.post(
    "/password",
    dependencies=[requires(PROFILE_WRITE)],
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(
        InvalidCurrentPassword,
        WeakPassword,
        TooManyAttempts,
        ThrottleUnavailable,
        InsufficientUserAuthentication,
        *BEARER_ERRORS,
    ),
)
async def change_password(
    data: PasswordChange,
    claims: SteppedUpClaims,
    users: UserRepositoryDep,
    revocations: RevocationsDep,
    tokens: AccountTokenRepositoryDep,
    mail: AccountMailDep,
    auth: AuthStateDep,
    client: ClientInfoDep,
) -> None:
    """Change the caller's password; every other session of theirs is revoked and the
    address is told. Needs a recent login, with a second factor where the account has one
    (401 `insufficient_user_authentication` otherwise: log in again)."""
    await service.change_password(
        await users.token_user_to_change(claims.sub),
        auth.hasher,
        auth.common_passwords,
        auth.throttle,
        revocations,
        tokens,
        mail,
        current_password=data.current_password,
        new_password=data.new_password,
        keep_session=uuid.UUID(claims.sid),
        client=client.ip,
    )
