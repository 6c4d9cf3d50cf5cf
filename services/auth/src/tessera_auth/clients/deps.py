"""Dependencies of the service-account routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from tessera_auth.clients.repository import ServiceAccountRepository
from tessera_core.web.deps import UnitOfWorkDep

__all__ = ["ServiceAccountRepositoryDep", "get_service_account_repository"]


async def get_service_account_repository(work: UnitOfWorkDep) -> ServiceAccountRepository:
    return ServiceAccountRepository(work)


ServiceAccountRepositoryDep = Annotated[
    ServiceAccountRepository, Depends(get_service_account_repository)
]
