from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from tessera_core.models import LoginSession, RefreshToken, User

_ROTATE = text(
    """
    WITH spent AS (
        UPDATE refresh_token SET spent_at = coalesce(spent_at, :now) WHERE id = :token_id
    ), touched AS (
        UPDATE login_session SET last_used_at = :now WHERE id = :session_id
    )
    INSERT INTO refresh_token (id, session_id, token_hash, expires_at)
    VALUES (:next_id, :session_id, :next_hash, :expires_at)
    """
)


class LoginSessionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def create(
        self,
        *,
        user_id: uuid.UUID,
        client_id: str,
        expires_at: datetime,
        user_agent: str | None,
        ip: str | None,
    ) -> LoginSession:
        login = LoginSession(
            user_id=user_id,
            client_id=client_id,
            expires_at=expires_at,
            user_agent=user_agent[:512] if user_agent else None,
            ip=ip,
        )
        self.session.add(login)
        await self.session.flush()
        await self.session.refresh(login)
        return login

    async def add_refresh_token(
        self, login: LoginSession, token_hash: bytes, expires_at: datetime
    ) -> RefreshToken:
        token = RefreshToken(session_id=login.id, token_hash=token_hash, expires_at=expires_at)
        self.session.add(token)
        await self.session.flush()
        return token

    async def rotate(
        self, token: RefreshToken, next_hash: bytes, expires_at: datetime, now: datetime
    ) -> None:
        """Spend ``token`` (keeping the first spend's time), touch its session and insert
        its successor: one statement, one round trip. The loaded objects are left as they
        are, so the unit of work flushes nothing more."""
        await self.session.execute(
            _ROTATE,
            {
                "token_id": token.id,
                "session_id": token.session_id,
                "next_id": uuid.uuid4(),
                "next_hash": next_hash,
                "expires_at": expires_at,
                "now": now,
            },
        )

    async def refresh_token_for_update(
        self, token_hash: bytes
    ) -> tuple[RefreshToken, LoginSession, User] | None:
        """The refresh token, its session and its user in one query, the token locked: two
        concurrent refreshes of one token are serialised, so exactly one of them rotates it."""
        row = (
            await self.session.execute(
                select(RefreshToken, LoginSession, User)
                .join(LoginSession, RefreshToken.session_id == LoginSession.id)
                .join(User, LoginSession.user_id == User.id)
                .where(RefreshToken.token_hash == token_hash)
                .with_for_update(of=RefreshToken)
            )
        ).first()
        return (row[0], row[1], row[2]) if row else None

    async def get_for_user(self, session_id: uuid.UUID, user_id: uuid.UUID) -> LoginSession | None:
        login = await self.session.get(LoginSession, session_id)
        return login if login is not None and login.user_id == user_id else None

    async def active_for_user(self, user_id: uuid.UUID, now: datetime) -> Sequence[LoginSession]:
        return (
            await self.session.scalars(
                select(LoginSession)
                .where(
                    LoginSession.user_id == user_id,
                    LoginSession.revoked_at.is_(None),
                    LoginSession.expires_at > now,
                )
                .order_by(LoginSession.last_used_at.desc())
            )
        ).all()
