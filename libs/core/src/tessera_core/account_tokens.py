"""Single-use link tokens mailed to users: ``reset`` a password, ``verify`` an email.

A token is 256 random bits; only its SHA-256 is stored (like refresh tokens: nothing to
brute-force, so a fast hash is enough). Issuing a token discards the user's unused ones of
the same purpose, so only the newest link works.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from tessera_core.models import AccountToken

__all__ = ["TOKEN_BYTES", "AccountTokenRepository", "Purpose", "hash_account_token"]

TOKEN_BYTES = 32
Purpose = Literal["reset", "verify"]


def hash_account_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class AccountTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def issue(
        self, user_id: uuid.UUID, purpose: Purpose, *, email: str, ttl_seconds: int
    ) -> str:
        """A new token for ``email``; the user's unused tokens of this purpose stop working."""
        await self.discard_unused(user_id, purpose)
        token = secrets.token_urlsafe(TOKEN_BYTES)
        self.session.add(
            AccountToken(
                id=uuid.uuid4(),
                user_id=user_id,
                purpose=purpose,
                token_hash=hash_account_token(token),
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
                AccountToken.token_hash == hash_account_token(token),
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
