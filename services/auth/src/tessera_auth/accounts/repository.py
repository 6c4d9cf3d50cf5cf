from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tessera_auth.accounts.errors import EmailTaken, UsernameTaken
from tessera_core.models import User


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: uuid.UUID) -> User | None:
        return await self.session.get(User, user_id)

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

    async def username_exists(self, username: str) -> bool:
        found = await self.session.scalar(
            select(User.id).where(func.lower(User.username) == username.lower())
        )
        return found is not None

    async def email_exists(self, email: str, *, excluding: uuid.UUID | None = None) -> bool:
        query = select(User.id).where(func.lower(User.email) == email.lower())
        if excluding is not None:
            query = query.where(User.id != excluding)
        return await self.session.scalar(query) is not None

    async def add(self, user: User) -> User:
        """Insert; a concurrent insert of the same username or email becomes a 409, not a 500."""
        try:
            async with self.session.begin_nested():
                self.session.add(user)
                await self.session.flush()
        except IntegrityError as exc:
            constraint = getattr(getattr(exc.orig, "diag", None), "constraint_name", "") or ""
            if "email" in constraint:
                raise EmailTaken("A user with this email already exists.") from exc
            raise UsernameTaken("A user with this username already exists.") from exc
        await self.session.refresh(user)
        return user

    async def record_login(self, user: User, at: datetime) -> None:
        user.last_login = at
        await self.session.flush()
