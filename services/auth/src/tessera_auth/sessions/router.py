from __future__ import annotations

import uuid
from collections.abc import Sequence

from fastapi import APIRouter, status

from tessera_auth.sessions import service
from tessera_auth.sessions.deps import (
    ActingAdminClaims,
    LoginSessionRepositoryDep,
    OptionalClaims,
    RevokingActingAdminClaims,
)
from tessera_auth.sessions.errors import InvalidRefreshToken, SessionNotFound, UserNotFound
from tessera_auth.sessions.schemas import RefreshRequest, SessionRead
from tessera_core.db.models import LoginSession
from tessera_core.errors import (
    ADMIN_ERRORS,
    BEARER_ERRORS,
    RevocationUnavailable,
    problem_responses,
)
from tessera_core.tokens import AccessClaims
from tessera_core.tokens.scopes import PROFILE_READ, SESSIONS_WRITE, USERS_READ, USERS_WRITE
from tessera_core.web.deps import (
    CurrentClaims,
    RevocationsDep,
    RevokingClaims,
    UserRepositoryDep,
    requires,
)

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/auth", tags=["sessions"])


def _read(active: Sequence[LoginSession], claims: AccessClaims) -> list[SessionRead]:
    """The sessions as listed; ``current`` marks the one the caller's own token belongs to."""
    return [
        SessionRead.model_validate(s).model_copy(update={"current": str(s.id) == claims.sid})
        for s in active
    ]


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(InvalidRefreshToken, RevocationUnavailable),
)
async def logout(
    data: RefreshRequest,
    sessions: LoginSessionRepositoryDep,
    revocations: RevocationsDep,
    claims: OptionalClaims,
) -> None:
    """End the refresh token's session; its access tokens stop working at once."""
    await service.end(sessions, revocations, data.refresh_token, claims)


@router.post(
    "/logout-all",
    dependencies=[requires(SESSIONS_WRITE)],
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(*BEARER_ERRORS),
)
async def logout_all(claims: RevokingClaims, revocations: RevocationsDep) -> None:
    """End every session of the caller."""
    await revocations.revoke_user(uuid.UUID(claims.sub), reason="logout_all")


@router.post(
    "/logout-others",
    dependencies=[requires(SESSIONS_WRITE)],
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(*BEARER_ERRORS),
)
async def logout_others(claims: RevokingClaims, revocations: RevocationsDep) -> None:
    """End every session of the caller but the one of this token (the account page's
    "End all other sessions")."""
    await revocations.revoke_other_sessions(
        uuid.UUID(claims.sub), keep=uuid.UUID(claims.sid), reason="logout_others"
    )


@router.get(
    "/sessions",
    dependencies=[requires(PROFILE_READ)],
    response_model=list[SessionRead],
    responses=problem_responses(*BEARER_ERRORS),
)
async def list_sessions(
    claims: CurrentClaims, sessions: LoginSessionRepositoryDep
) -> list[SessionRead]:
    """The caller's active sessions."""
    return _read(await service.list_active(sessions, uuid.UUID(claims.sub)), claims)


@router.delete(
    "/sessions/{session_id}",
    dependencies=[requires(SESSIONS_WRITE)],
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(SessionNotFound, *BEARER_ERRORS),
)
async def delete_session(
    session_id: uuid.UUID,
    claims: RevokingClaims,
    sessions: LoginSessionRepositoryDep,
    revocations: RevocationsDep,
) -> None:
    """Revoke one of the caller's sessions."""
    await service.end_one(sessions, revocations, uuid.UUID(claims.sub), session_id)


@router.get(
    "/admin/users/{user_id}/sessions",
    dependencies=[requires(USERS_READ)],
    response_model=list[SessionRead],
    responses=problem_responses(UserNotFound, *ADMIN_ERRORS),
)
async def admin_list_sessions(
    user_id: uuid.UUID,
    admin: ActingAdminClaims,
    users: UserRepositoryDep,
    sessions: LoginSessionRepositoryDep,
) -> list[SessionRead]:
    """A user's active sessions, for an administrator."""
    active = await service.list_active_for_admin(users, sessions, admin.sub, user_id)
    return _read(active, admin)


@router.delete(
    "/admin/users/{user_id}/sessions/{session_id}",
    dependencies=[requires(USERS_WRITE)],
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(UserNotFound, SessionNotFound, *ADMIN_ERRORS),
)
async def admin_delete_session(
    user_id: uuid.UUID,
    session_id: uuid.UUID,
    admin: RevokingActingAdminClaims,
    users: UserRepositoryDep,
    sessions: LoginSessionRepositoryDep,
    revocations: RevocationsDep,
) -> None:
    """Revoke one session of a user, for an administrator."""
    await service.end_one_for_admin(users, sessions, revocations, admin.sub, user_id, session_id)


@router.delete(
    "/admin/users/{user_id}/sessions",
    dependencies=[requires(USERS_WRITE)],
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(UserNotFound, *ADMIN_ERRORS),
)
async def admin_delete_sessions(
    user_id: uuid.UUID,
    admin: RevokingActingAdminClaims,
    users: UserRepositoryDep,
    revocations: RevocationsDep,
    sessions: LoginSessionRepositoryDep,
) -> None:
    """Revoke every session of a user, for an administrator."""
    await service.end_all_for_admin(users, sessions, revocations, admin.sub, user_id)
