"""Single-use link tokens mailed to users: ``reset`` a password, ``verify`` an email.

A token is 256 random bits and only its SHA-256 is stored, as for refresh tokens
(``tessera_core.tokens.new_opaque_token``). Issuing a token discards the user's unused ones of
the same purpose, so only the newest link works.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from tessera_core.models import AccountToken
from tessera_core.tokens import hash_opaque_token, new_opaque_token

__all__ = ["AccountTokenRepository", "Purpose"]

Purpose = Literal["reset", "verify"]


class AccountTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def issue(
        self, user_id: uuid.UUID, purpose: Purpose, *, email: str, ttl_seconds: int
    ) -> str:
        """A new token for ``email``; the user's unused tokens of this purpose stop working."""
        await self.discard_unused(user_id, purpose)
        token, token_hash = new_opaque_token()
        self.session.add(
            AccountToken(
                id=uuid.uuid4(),
                user_id=user_id,
                purpose=purpose,
                token_hash=token_hash,
                email=email,
                expires_at=datetime.now(UTC) + timedelta(seconds=ttl_seconds),
            )
        )
        await self.session.flush()
        return token

    async def find_for_update(self, token: str, purpose: Purpose) -> AccountToken | None:
        """The row of ``token`` (spent or not), locked: two requests cannot both spend it."""
        result = await self.session.scalars(
            select(AccountToken)
            .where(
                AccountToken.token_hash == hash_opaque_token(token),
                AccountToken.purpose == purpose,
            )
            .with_for_update()
        )
        return result.first()

    async def discard_unused(self, user_id: uuid.UUID, purpose: Purpose) -> None:
        await self.session.execute(
            delete(AccountToken).where(
                AccountToken.user_id == user_id,
                AccountToken.purpose == purpose,
                AccountToken.used_at.is_(None),
            )
        )
