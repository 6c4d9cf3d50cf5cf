"""Dependencies of the session routes: the session stores, and the claims that logout and the
admin's session routes act on."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from tessera_auth.sessions.repository import LoginSessionRepository
from tessera_core.errors import Forbidden, InvalidToken
from tessera_core.tokens import AccessClaims
from tessera_core.web.deps import (
    AdminClaims,
    CoreStateDep,
    RevokingAdminClaims,
    UnitOfWorkDep,
    UserRepositoryDep,
    bearer_scheme,
)

__all__ = [
    "ActingAdminClaims",
    "LoginSessionRepositoryDep",
    "OptionalClaims",
    "RevokingActingAdminClaims",
    "get_acting_admin_claims",
    "get_login_session_repository",
    "get_optional_claims",
    "get_revoking_acting_admin_claims",
]


async def get_login_session_repository(work: UnitOfWorkDep) -> LoginSessionRepository:
    return LoginSessionRepository(work)


LoginSessionRepositoryDep = Annotated[LoginSessionRepository, Depends(get_login_session_repository)]


async def get_optional_claims(
    token: Annotated[str | None, Depends(bearer_scheme)], core: CoreStateDep
) -> AccessClaims | None:
    """The claims of a Bearer token that came along, for logout to revoke it too; logout
    works without one. Revocation is not asked: revoking a revoked token changes nothing,
    and logout must not depend on Redis being up."""
    if not token:
        return None
    try:
        return await core.verifier.verify_signed(token)
    except InvalidToken:
        return None


OptionalClaims = Annotated[AccessClaims | None, Depends(get_optional_claims)]


async def _acting_admin(claims: AccessClaims, users: UserRepositoryDep) -> AccessClaims:
    """The admin claim, then the admin's row as it is now: still there and active
    (``TokenRevoked`` otherwise), still an admin. A deactivation or demotion that did not
    revoke the admin's tokens (a change made in the database, say) ends the powers at once,
    as in the users service."""
    user = await users.token_user(claims.sub)
    if not user.is_admin:
        raise Forbidden("This endpoint is for administrators.")
    return claims


async def get_acting_admin_claims(claims: AdminClaims, users: UserRepositoryDep) -> AccessClaims:
    return await _acting_admin(claims, users)


async def get_revoking_acting_admin_claims(
    claims: RevokingAdminClaims, users: UserRepositoryDep
) -> AccessClaims:
    return await _acting_admin(claims, users)


ActingAdminClaims = Annotated[AccessClaims, Depends(get_acting_admin_claims)]
RevokingActingAdminClaims = Annotated[AccessClaims, Depends(get_revoking_acting_admin_claims)]
