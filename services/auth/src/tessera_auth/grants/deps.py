"""Dependencies of the token-grant routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from tessera_auth.deps import AuthStateDep
from tessera_auth.factors.deps import FactorsDep, LoginChallengesDep, PasskeysDep
from tessera_auth.grants.service import RefreshGrant, TokenGrants
from tessera_auth.sessions.deps import LoginSessionRepositoryDep
from tessera_core.web.deps import CoreStateDep, RevocationsDep, SettingsDep, UserRepositoryDep

__all__ = ["RefreshGrantDep", "TokenGrantsDep", "get_refresh_grant", "get_token_grants"]


async def get_refresh_grant(
    sessions: LoginSessionRepositoryDep,
    core: CoreStateDep,
    auth: AuthStateDep,
    settings: SettingsDep,
) -> RefreshGrant:
    return RefreshGrant(sessions, core.revocation, auth, settings)


RefreshGrantDep = Annotated[RefreshGrant, Depends(get_refresh_grant)]


async def get_token_grants(
    users: UserRepositoryDep,
    sessions: LoginSessionRepositoryDep,
    refresh_grant: RefreshGrantDep,
    revocations: RevocationsDep,
    core: CoreStateDep,
    auth: AuthStateDep,
    settings: SettingsDep,
    factors: FactorsDep,
    challenges: LoginChallengesDep,
    passkeys: PasskeysDep,
) -> TokenGrants:
    return TokenGrants(
        users,
        sessions,
        refresh_grant,
        revocations,
        core.verifier,
        auth,
        settings,
        factors,
        challenges,
        passkeys,
    )


TokenGrantsDep = Annotated[TokenGrants, Depends(get_token_grants)]
