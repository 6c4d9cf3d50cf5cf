"""Dependencies of the admin routes: the listing's repository, on the read pool."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from tessera_core.web.deps import CoreStateDep
from tessera_users.admin.repository import UserListRepository

__all__ = ["UserListRepositoryDep", "get_user_list_repository"]


async def get_user_list_repository(core: CoreStateDep) -> UserListRepository:
    return UserListRepository(core.read_pool)


UserListRepositoryDep = Annotated[UserListRepository, Depends(get_user_list_repository)]
