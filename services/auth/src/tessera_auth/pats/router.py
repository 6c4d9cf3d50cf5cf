"""Personal access tokens: the user's own (behind step-up to create), and an
administrator's view of anyone's (docs/personal-access-tokens.md)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from tessera_auth.accounts.deps import AccountMailDep
from tessera_auth.deps import ClientInfoDep
from tessera_auth.pats import service
from tessera_auth.pats.deps import PersonalTokenRepositoryDep
from tessera_auth.pats.errors import ExpiryTooLong, InvalidScope, PersonalTokenNotFound
from tessera_auth.pats.schemas import PersonalTokenCreate, PersonalTokenCreated, PersonalTokenRead
from tessera_auth.sessions.deps import (
    ActingAdminClaims,
    LoginSessionRepositoryDep,
    RevokingActingAdminClaims,
)
from tessera_auth.sessions.errors import UserNotFound
from tessera_core.accounts.step_up import InsufficientUserAuthentication
from tessera_core.errors import ADMIN_ERRORS, BEARER_ERRORS, NO_STORE, problem_responses
from tessera_core.tokens.scopes import PROFILE_READ, PROFILE_WRITE, USERS_READ, USERS_WRITE
from tessera_core.web.deps import (
    CurrentClaims,
    RevocationsDep,
    RevokingClaims,
    SettingsDep,
    SteppedUpClaims,
    UserRepositoryDep,
    requires,
)

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/auth", tags=["personal access tokens"])


@router.post(
    "/tokens",
    dependencies=[requires(PROFILE_WRITE)],
    response_model=PersonalTokenCreated,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(
        InvalidScope, ExpiryTooLong, InsufficientUserAuthentication, *BEARER_ERRORS
    ),
)
async def create_token(
    data: PersonalTokenCreate,
    response: Response,
    claims: SteppedUpClaims,
    users: UserRepositoryDep,
    tokens: PersonalTokenRepositoryDep,
    sessions: LoginSessionRepositoryDep,
    mail: AccountMailDep,
    settings: SettingsDep,
    client: ClientInfoDep,
) -> PersonalTokenCreated:
    """Create a personal access token: `token` is in this answer only. Needs a recent login
    (401 `insufficient_user_authentication` otherwise, and always for a personal access
    token); `scope` within the caller's token's, `expires_in_days` up to the maximum."""
    response.headers.update(NO_STORE)
    created = await service.create(
        tokens,
        sessions,
        mail,
        settings,
        claims,
        await users.token_user_to_change(claims.sub),
        client,
        name=data.name,
        scope=data.scope,
        expires_in_days=data.expires_in_days,
    )
    read = PersonalTokenRead.model_validate(created.row)
    return PersonalTokenCreated(**read.model_dump(), token=created.token)


@router.get(
    "/tokens",
    dependencies=[requires(PROFILE_READ)],
    response_model=list[PersonalTokenRead],
    responses=problem_responses(*BEARER_ERRORS),
)
async def list_tokens(
    claims: CurrentClaims, tokens: PersonalTokenRepositoryDep
) -> list[PersonalTokenRead]:
    """The caller's personal access tokens that are not revoked (no secrets), newest first."""
    found = await service.list_own(tokens, uuid.UUID(claims.sub))
    return [PersonalTokenRead.model_validate(t) for t in found]


@router.delete(
    "/tokens/{token_id}",
    dependencies=[requires(PROFILE_WRITE)],
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(PersonalTokenNotFound, *BEARER_ERRORS),
)
async def revoke_token(
    token_id: uuid.UUID,
    claims: RevokingClaims,
    users: UserRepositoryDep,
    tokens: PersonalTokenRepositoryDep,
    revocations: RevocationsDep,
    mail: AccountMailDep,
) -> None:
    """Revoke one of the caller's personal access tokens: refused at once everywhere."""
    user = await users.token_user_to_change(claims.sub)
    await service.revoke_own(tokens, revocations, mail, user, token_id)


@router.get(
    "/admin/users/{user_id}/tokens",
    dependencies=[requires(USERS_READ)],
    response_model=list[PersonalTokenRead],
    responses=problem_responses(UserNotFound, *ADMIN_ERRORS),
)
async def admin_list_tokens(
    user_id: uuid.UUID,
    admin: ActingAdminClaims,
    users: UserRepositoryDep,
    tokens: PersonalTokenRepositoryDep,
) -> list[PersonalTokenRead]:
    """A user's personal access tokens that are not revoked, for an administrator."""
    found = await service.list_for_admin(users, tokens, admin.sub, user_id)
    return [PersonalTokenRead.model_validate(t) for t in found]


@router.delete(
    "/admin/users/{user_id}/tokens/{token_id}",
    dependencies=[requires(USERS_WRITE)],
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(UserNotFound, PersonalTokenNotFound, *ADMIN_ERRORS),
)
async def admin_revoke_token(
    user_id: uuid.UUID,
    token_id: uuid.UUID,
    admin: RevokingActingAdminClaims,
    users: UserRepositoryDep,
    tokens: PersonalTokenRepositoryDep,
    revocations: RevocationsDep,
    mail: AccountMailDep,
) -> None:
    """Revoke one personal access token of a user, for an administrator; the owner is told."""
    await service.revoke_for_admin(users, tokens, revocations, mail, admin.sub, user_id, token_id)
