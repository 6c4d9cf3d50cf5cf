"""Single-use link tokens mailed to users: ``reset`` a password, ``verify`` an email.

A token is 256 random bits and only its SHA-256 is stored, as for refresh tokens
(``tessera_core.tokens.new_opaque_token``). Issuing a token discards the user's unused ones of
the same purpose, so only the newest link works, however many requests issue at once:
issuers of one user and purpose take turns (``issue``).
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tessera_core.db.models import AccountToken
from tessera_core.tokens import hash_opaque_token, new_opaque_token

__all__ = ["AccountTokenRepository", "Purpose"]

Purpose = Literal["reset", "verify"]


def _issue_lock(user_id: uuid.UUID, purpose: Purpose) -> int:
    """The advisory lock key of (user, purpose): 64 bits of a hash (a collision only makes
    two issuers take turns)."""
    digest = hashlib.sha256(f"account-token:{purpose}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class AccountTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def issue(
        self, user_id: uuid.UUID, purpose: Purpose, *, email: str, ttl_seconds: int
    ) -> str:
        """A new token for ``email``; the user's unused tokens of this purpose stop working.

        Two requests that each deleted the unused tokens they could see and inserted their
        own would leave two working links: an issuer first takes a transaction-scoped
        advisory lock on (user, purpose), so the second waits for the first to commit and
        then deletes its token too. An advisory lock rather than the user's row: a reset in
        flight holds its token row and then updates the user row, and an issuer holding the
        user row while deleting that token would deadlock with it; nor a unique partial
        index with an upsert, which needs a migration that first resolves the duplicates
        the race may already have left."""
        await self._take_turns(user_id, purpose)
        return await self._replace_unused(user_id, purpose, email=email, ttl_seconds=ttl_seconds)

    async def issue_unless_recent(
        self,
        user_id: uuid.UUID,
        purpose: Purpose,
        *,
        email: str,
        ttl_seconds: int,
        min_interval_seconds: int,
    ) -> str | None:
        """``issue``, unless an unused token for ``email`` was issued less than
        ``min_interval_seconds`` ago: then that one keeps working and ``None`` is returned.
        Whoever asks, a link that reached the mailbox lives at least this long."""
        await self._take_turns(user_id, purpose)
        if min_interval_seconds <= 0:
            return await self._replace_unused(
                user_id, purpose, email=email, ttl_seconds=ttl_seconds
            )
        recent = await self.session.scalar(
            select(func.count())
            .select_from(AccountToken)
            .where(
                AccountToken.user_id == user_id,
                AccountToken.purpose == purpose,
                AccountToken.email == email,
                AccountToken.used_at.is_(None),
                AccountToken.expires_at > func.now(),
                AccountToken.created_at > func.now() - timedelta(seconds=min_interval_seconds),
            )
        )
        if recent:
            return None
        return await self._replace_unused(user_id, purpose, email=email, ttl_seconds=ttl_seconds)

    async def _take_turns(self, user_id: uuid.UUID, purpose: Purpose) -> None:
        await self.session.execute(
            select(func.pg_advisory_xact_lock(_issue_lock(user_id, purpose)))
        )

    async def _replace_unused(
        self, user_id: uuid.UUID, purpose: Purpose, *, email: str, ttl_seconds: int
    ) -> str:
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
