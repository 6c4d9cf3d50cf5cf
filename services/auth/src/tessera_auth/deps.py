"""Dependencies of the auth service's routes; each alias is named for what it yields."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from tessera_auth.accounts.repository import AccountRepository
from tessera_auth.grants.service import TokenGrants
from tessera_auth.sessions.repository import LoginSessionRepository, RefreshRotationRepository
from tessera_auth.sessions.schemas import ClientInfo
from tessera_auth.state import AuthState
from tessera_core.accounts.account_tokens import AccountTokenRepository
from tessera_core.accounts.users import UserRepository
from tessera_core.errors import Forbidden, InvalidToken
from tessera_core.mail import AccountMail
from tessera_core.tokens import AccessClaims
from tessera_core.web.deps import (
    AdminClaims,
    CoreStateDep,
    DbSessionDep,
    PgTransactionDep,
    RevocationsDep,
    RevokingAdminClaims,
    SettingsDep,
    bearer_scheme,
)

__all__ = [
    "AccountMailDep",
    "AccountRepositoryDep",
    "AccountTokenRepositoryDep",
    "ActingAdminClaims",
    "AuthStateDep",
    "ClientInfoDep",
    "LoginSessionRepositoryDep",
    "OptionalClaims",
    "RefreshRotationsDep",
    "RevokingActingAdminClaims",
    "TokenGrantsDep",
    "get_account_mail",
    "get_account_repository",
    "get_account_token_repository",
    "get_acting_admin_claims",
    "get_auth_state",
    "get_client_info",
    "get_login_session_repository",
    "get_optional_claims",
    "get_refresh_rotations",
    "get_revoking_acting_admin_claims",
    "get_token_grants",
]


async def get_auth_state(request: Request) -> AuthState:
    state: AuthState = request.state.auth
    return state


AuthStateDep = Annotated[AuthState, Depends(get_auth_state)]


async def get_account_repository(db: DbSessionDep) -> AccountRepository:
    return AccountRepository(db)


async def get_login_session_repository(db: DbSessionDep) -> LoginSessionRepository:
    return LoginSessionRepository(db)


async def get_account_token_repository(db: DbSessionDep) -> AccountTokenRepository:
    return AccountTokenRepository(db)


async def get_refresh_rotations(transaction: PgTransactionDep) -> RefreshRotationRepository:
    return RefreshRotationRepository(transaction)


AccountRepositoryDep = Annotated[AccountRepository, Depends(get_account_repository)]
AccountTokenRepositoryDep = Annotated[AccountTokenRepository, Depends(get_account_token_repository)]
LoginSessionRepositoryDep = Annotated[LoginSessionRepository, Depends(get_login_session_repository)]
RefreshRotationsDep = Annotated[RefreshRotationRepository, Depends(get_refresh_rotations)]


async def get_client_info(request: Request, settings: SettingsDep) -> ClientInfo:
    return ClientInfo(
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
        client_id=settings.default_client_id,
    )


ClientInfoDep = Annotated[ClientInfo, Depends(get_client_info)]


async def get_account_mail(
    db: DbSessionDep, auth: AuthStateDep, settings: SettingsDep
) -> AccountMail:
    """Mail of this request, written to the outbox in its transaction."""
    return AccountMail.in_session(db, auth.mail_templates, settings, auth.mail_budget)


AccountMailDep = Annotated[AccountMail, Depends(get_account_mail)]


async def get_token_grants(
    accounts: AccountRepositoryDep,
    sessions: LoginSessionRepositoryDep,
    rotations: RefreshRotationsDep,
    revocations: RevocationsDep,
    core: CoreStateDep,
    auth: AuthStateDep,
    settings: SettingsDep,
) -> TokenGrants:
    return TokenGrants(accounts, sessions, rotations, revocations, core.verifier, auth, settings)


TokenGrantsDep = Annotated[TokenGrants, Depends(get_token_grants)]


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


async def _acting_admin(claims: AccessClaims, db: DbSessionDep) -> AccessClaims:
    """The admin claim, then the admin's row as it is now: still there and active
    (``TokenRevoked`` otherwise), still an admin. A deactivation or demotion that did not
    revoke the admin's tokens (a change made in the database, say) ends the powers at once,
    as in the users service."""
    user = await UserRepository(db).get_token_user(claims.sub)
    if not user.is_admin:
        raise Forbidden("This endpoint is for administrators.")
    return claims


async def get_acting_admin_claims(claims: AdminClaims, db: DbSessionDep) -> AccessClaims:
    return await _acting_admin(claims, db)


async def get_revoking_acting_admin_claims(
    claims: RevokingAdminClaims, db: DbSessionDep
) -> AccessClaims:
    return await _acting_admin(claims, db)


ActingAdminClaims = Annotated[AccessClaims, Depends(get_acting_admin_claims)]
RevokingActingAdminClaims = Annotated[AccessClaims, Depends(get_revoking_acting_admin_claims)]
