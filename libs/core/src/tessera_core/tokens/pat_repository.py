"""The one repository of the ``personal_access_token`` table: creating and listing a user's
tokens (the auth service), the lookup behind a token check and the batched last-used write
(every service that checks tokens)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tessera_core.db.models import LoginSession, PersonalAccessToken
from tessera_core.db.unit_of_work import UnitOfWork

__all__ = ["FIND_PAT_SQL", "RECORD_USE_SQL", "PatRow", "PersonalTokenRepository"]

# The token with what its session and its user say about it: one prepared query per
# cache miss of a token check.
FIND_PAT_SQL = """
    SELECT p.id, p.user_id, p.session_id, p.name, p.scope, p.created_at, p.expires_at,
           s.revoked_at AS session_revoked_at,
           u.username, u.is_admin, u.is_active, u.email_verified
    FROM personal_access_token p
    JOIN login_session s ON s.id = p.session_id
    JOIN "user" u ON u.id = p.user_id
    WHERE p.token_hash = %(token_hash)s
"""
# Many tokens' last use in one statement; a time never moves backwards (two workers flush
# the same token in either order).
RECORD_USE_SQL = """
    UPDATE personal_access_token p SET last_used_at = v.used_at
    FROM unnest(%(ids)s::uuid[], %(used)s::timestamptz[]) AS v(id, used_at)
    WHERE p.id = v.id AND (p.last_used_at IS NULL OR p.last_used_at < v.used_at)
"""


@dataclass(frozen=True, slots=True)
class PatRow:
    """``FIND_PAT_SQL``'s row: what a token check needs to know of a token."""

    id: uuid.UUID
    user_id: uuid.UUID
    session_id: uuid.UUID
    name: str
    scope: str
    created_at: datetime
    expires_at: datetime
    session_revoked_at: datetime | None
    username: str
    is_admin: bool
    is_active: bool
    email_verified: bool


class PersonalTokenRepository:
    """Personal access tokens, on a unit of work. Revocation is not here: a token is revoked
    by revoking its session (``tessera_core.revocation.Revocations.revoke_session``)."""

    def __init__(self, work: UnitOfWork) -> None:
        self.work = work

    @property
    def session(self) -> AsyncSession:
        return self.work.session

    async def add(
        self,
        *,
        user_id: uuid.UUID,
        session_id: uuid.UUID,
        name: str,
        token_hash: bytes,
        scope: str,
        expires_at: datetime,
    ) -> PersonalAccessToken:
        token = PersonalAccessToken(
            user_id=user_id,
            session_id=session_id,
            name=name,
            token_hash=token_hash,
            scope=scope,
            expires_at=expires_at,
        )
        self.session.add(token)
        await self.session.flush()
        await self.session.refresh(token)
        return token

    async def live_for_user(self, user_id: uuid.UUID) -> Sequence[PersonalAccessToken]:
        """The user's tokens that are not revoked (expired ones too, so their owner sees
        what to replace), newest first."""
        return (
            await self.session.scalars(
                select(PersonalAccessToken)
                .join(LoginSession, LoginSession.id == PersonalAccessToken.session_id)
                .where(PersonalAccessToken.user_id == user_id, LoginSession.revoked_at.is_(None))
                .order_by(PersonalAccessToken.created_at.desc(), PersonalAccessToken.id)
            )
        ).all()

    async def live_for_user_by_id(
        self, token_id: uuid.UUID, user_id: uuid.UUID
    ) -> PersonalAccessToken | None:
        """One of the user's tokens that is not revoked; ``None`` for anyone else's."""
        return await self.session.scalar(
            select(PersonalAccessToken)
            .join(LoginSession, LoginSession.id == PersonalAccessToken.session_id)
            .where(
                PersonalAccessToken.id == token_id,
                PersonalAccessToken.user_id == user_id,
                LoginSession.revoked_at.is_(None),
            )
        )

    async def find(self, token_hash: bytes) -> PatRow | None:
        """The token of this hash with its session's and user's state, as they are now."""
        cursor = await self.work.execute(FIND_PAT_SQL, {"token_hash": token_hash})
        row = await cursor.fetchone()
        return PatRow(**row) if row else None

    async def record_use(self, used: Mapping[uuid.UUID, datetime]) -> None:
        """Write the last use of many tokens at once, committed on its own."""
        if used:
            await self.work.execute_now(
                RECORD_USE_SQL, {"ids": list(used), "used": list(used.values())}
            )
