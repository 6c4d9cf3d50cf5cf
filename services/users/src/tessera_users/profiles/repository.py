from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tessera_core.models import User
from tessera_users.profiles.errors import EmailTaken


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: uuid.UUID) -> User | None:
        return await self.session.get(User, user_id)

    async def email_taken(self, email: str, *, excluding: uuid.UUID) -> bool:
        """Whether another user has this email, compared case-insensitively."""
        found = await self.session.scalar(
            select(User.id).where(func.lower(User.email) == email.lower(), User.id != excluding)
        )
        return found is not None

    async def save(self, user: User) -> User:
        """Write the user's changes now. Two concurrent changes to one email pass the check
        above together; the unique index then fails the later one, which becomes a 409."""
        try:
            async with self.session.begin_nested():
                await self.session.flush([user])
        except IntegrityError as exc:
            constraint = getattr(getattr(exc.orig, "diag", None), "constraint_name", "") or ""
            if "email" in constraint:
                raise EmailTaken("A user with this email already exists.") from exc
            raise
        return user
