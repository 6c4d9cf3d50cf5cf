"""Dependencies of the second-factor routes (and of the grants, which ask for a factor)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from tessera_auth.deps import AuthStateDep
from tessera_auth.factors.ceremonies import Ceremonies
from tessera_auth.factors.challenges import LoginChallenges
from tessera_auth.factors.passkeys import Passkeys
from tessera_auth.factors.service import Factors
from tessera_core.accounts.factors import FactorRepository
from tessera_core.web.deps import CoreStateDep, SettingsDep, UnitOfWorkDep

__all__ = [
    "FactorsDep",
    "LoginChallengesDep",
    "PasskeysDep",
    "get_factors",
    "get_login_challenges",
    "get_passkeys",
]


async def get_factors(work: UnitOfWorkDep, auth: AuthStateDep, settings: SettingsDep) -> Factors:
    return Factors(FactorRepository(work), auth.hasher, auth.throttle, settings)


FactorsDep = Annotated[Factors, Depends(get_factors)]


async def get_login_challenges(core: CoreStateDep, settings: SettingsDep) -> LoginChallenges:
    return LoginChallenges(
        core.redis,
        seconds=settings.second_factor_challenge_seconds,
        answers=settings.second_factor_challenge_attempts,
    )


LoginChallengesDep = Annotated[LoginChallenges, Depends(get_login_challenges)]


async def get_passkeys(work: UnitOfWorkDep, core: CoreStateDep, settings: SettingsDep) -> Passkeys:
    ceremonies = Ceremonies(core.redis, seconds=settings.second_factor_challenge_seconds)
    return Passkeys(FactorRepository(work), ceremonies, settings)


PasskeysDep = Annotated[Passkeys, Depends(get_passkeys)]
