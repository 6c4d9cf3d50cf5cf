from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, or_, select

from tessera_core.accounts import UserRepository
from tessera_core.models import User


class AccountRepository(UserRepository):
    """The user rows as the auth service needs them: login lookup, creation, last login."""

    async def get_by_login(self, login: str) -> User | None:
        """The user whose username or email matches ``login``, case-insensitively."""
        lowered = login.lower()
        return await self.session.scalar(
            select(User)
            .where(or_(func.lower(User.username) == lowered, func.lower(User.email) == lowered))
            # Usernames may look like emails: a username match wins over another's email.
            .order_by((func.lower(User.username) == lowered).desc())
            .limit(1)
        )

    async def add(self, user: User) -> User:
        await self.save(user)
        await self.session.refresh(user)
        return user

    async def record_login(self, user: User, at: datetime) -> None:
        user.last_login = at
        await self.session.flush()
