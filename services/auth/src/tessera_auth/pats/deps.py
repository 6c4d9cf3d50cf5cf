"""Dependencies of the personal-access-token routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from tessera_core.tokens.pat_repository import PersonalTokenRepository
from tessera_core.web.deps import UnitOfWorkDep

__all__ = ["PersonalTokenRepositoryDep", "get_personal_token_repository"]


async def get_personal_token_repository(work: UnitOfWorkDep) -> PersonalTokenRepository:
    return PersonalTokenRepository(work)


PersonalTokenRepositoryDep = Annotated[
    PersonalTokenRepository, Depends(get_personal_token_repository)
]
