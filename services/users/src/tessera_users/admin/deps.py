"""Dependencies of the admin routes: the listing's repository."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from tessera_core.web.deps import UnitOfWorkDep
from tessera_users.admin.repository import UserListRepository

__all__ = ["UserListRepositoryDep", "get_user_list_repository"]


async def get_user_list_repository(work: UnitOfWorkDep) -> UserListRepository:
    return UserListRepository(work)


UserListRepositoryDep = Annotated[UserListRepository, Depends(get_user_list_repository)]
