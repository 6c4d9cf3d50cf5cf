from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from tessera_auth.deps import LoginSessionRepositoryDep, OptionalClaims
from tessera_auth.sessions import service
from tessera_auth.sessions.errors import InvalidRefreshToken, SessionNotFound
from tessera_auth.sessions.schemas import RefreshRequest, SessionRead
from tessera_core.deps import CurrentClaims, RevocationsDep, RevokingClaims
from tessera_core.errors import BEARER_ERRORS, RevocationUnavailable, problem_responses

router = APIRouter(prefix="/api/v1/auth", tags=["sessions"])


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
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(*BEARER_ERRORS),
)
async def logout_all(claims: RevokingClaims, revocations: RevocationsDep) -> None:
    """End every session of the caller."""
    await revocations.revoke_user(uuid.UUID(claims.sub), reason="logout_all")


@router.get(
    "/sessions",
    response_model=list[SessionRead],
    responses=problem_responses(*BEARER_ERRORS),
)
async def list_sessions(
    claims: CurrentClaims, sessions: LoginSessionRepositoryDep
) -> list[SessionRead]:
    """The caller's active sessions."""
    active = await service.list_active(sessions, uuid.UUID(claims.sub))
    return [
        SessionRead.model_validate(s).model_copy(update={"current": str(s.id) == claims.sid})
        for s in active
    ]


@router.delete(
    "/sessions/{session_id}",
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
