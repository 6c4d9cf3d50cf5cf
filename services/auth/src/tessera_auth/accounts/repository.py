from __future__ import annotations

from datetime import datetime

from tessera_core.accounts.users import UserRepository
from tessera_core.db.models import User

__all__ = ["AccountRepository"]


class AccountRepository(UserRepository):
    """The user rows as the auth service needs them: creation and last login (the login
    lookup, ``get_by_identifier``, is shared)."""

    async def add(self, user: User) -> User:
        await self.save(user)
        await self.session.refresh(user)
        return user

    async def record_login(self, user: User, at: datetime) -> None:
        user.last_login = at
        await self.session.flush()
