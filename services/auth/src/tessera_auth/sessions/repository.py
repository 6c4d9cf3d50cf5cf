from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tessera_auth.tokens.issuer import TokenSubject
from tessera_core.db.engine import PgTransaction
from tessera_core.db.models import LoginSession, RefreshToken

__all__ = [
    "LOCK_REFRESH_TOKEN_SQL",
    "ROTATE_SQL",
    "LockedRefreshToken",
    "LoginSessionRepository",
    "RefreshRotationRepository",
]

# Written for psycopg (``%(name)s``): the lock runs as it is in the unit of work
# (``exec_driver_sql``, for logout and RFC 7009 revocation) and on a plain connection (a
# refresh, ``RefreshRotationRepository``): one text for the rule-bearing SQL.
LOCK_REFRESH_TOKEN_SQL = """
    SELECT t.id AS token_id, t.session_id, t.spent_at, t.expires_at,
           s.revoked_at AS session_revoked_at, s.expires_at AS session_expires_at,
           s.client_id, s.created_at AS session_created_at, s.user_id,
           u.username, u.is_admin, u.is_active, u.email_verified
    FROM refresh_token t
    JOIN login_session s ON s.id = t.session_id
    JOIN "user" u ON u.id = s.user_id
    WHERE t.token_hash = %(token_hash)s
    FOR UPDATE OF t
"""

ROTATE_SQL = """
    WITH spent AS (
        UPDATE refresh_token SET spent_at = coalesce(spent_at, %(now)s) WHERE id = %(token_id)s
    ), touched AS (
        UPDATE login_session SET last_used_at = %(now)s WHERE id = %(session_id)s
    )
    INSERT INTO refresh_token (id, session_id, token_hash, expires_at)
    VALUES (%(next_id)s, %(session_id)s, %(next_hash)s, %(expires_at)s)
"""


@dataclass(frozen=True, slots=True)
class LockedRefreshToken:
    """A refresh token locked for the rest of its transaction, with what its session and
    its user say about it (``LOCK_REFRESH_TOKEN_SQL``'s row)."""

    token_id: uuid.UUID
    session_id: uuid.UUID
    spent_at: datetime | None
    expires_at: datetime
    session_revoked_at: datetime | None
    session_expires_at: datetime
    client_id: str
    session_created_at: datetime
    user_id: uuid.UUID
    username: str
    is_admin: bool
    is_active: bool
    email_verified: bool

    @property
    def subject(self) -> TokenSubject:
        return TokenSubject(
            user_id=self.user_id,
            username=self.username,
            is_admin=self.is_admin,
            email_verified=self.email_verified,
            session_id=self.session_id,
            client_id=self.client_id,
            session_started=self.session_created_at,
        )


class RefreshRotationRepository:
    """A refresh's two statements, on a plain connection in one transaction: the lock, and
    the rotation. Measured against the unit of work's ORM session, this is the difference
    between ~400 and ~800 refreshes a second (docs/benchmarks.md)."""

    def __init__(self, transaction: PgTransaction) -> None:
        self.transaction = transaction

    async def lock(self, token_hash: bytes) -> LockedRefreshToken | None:
        """The refresh token with its session and user in one query, the token locked: two
        concurrent refreshes of one token are serialised, so exactly one of them rotates it."""
        connection = await self.transaction.connection()
        cursor = await connection.execute(LOCK_REFRESH_TOKEN_SQL, {"token_hash": token_hash})
        row = await cursor.fetchone()
        return LockedRefreshToken(**row) if row else None

    async def unlock(self) -> None:
        """Release the lock now, having written nothing: a reused token's session is revoked
        in a transaction of its own, and neither this connection nor the lock need wait
        for it while every other copy of the token queues behind the lock."""
        await self.transaction.end_now()

    async def rotate(
        self, token: LockedRefreshToken, next_hash: bytes, expires_at: datetime, now: datetime
    ) -> None:
        """Spend ``token`` (keeping the first spend's time), touch its session and insert
        its successor: one statement, sent with the COMMIT."""
        connection = await self.transaction.connection()
        await connection.execute(
            ROTATE_SQL,
            {
                "token_id": token.token_id,
                "session_id": token.session_id,
                "next_id": uuid.uuid4(),
                "next_hash": next_hash,
                "expires_at": expires_at,
                "now": now,
            },
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

    async def refresh_token_for_update(self, token_hash: bytes) -> LockedRefreshToken | None:
        """``RefreshRotationRepository.lock`` in the unit of work: logout and revocation
        wait for a refresh of the same token, and it for them."""
        connection = await self.session.connection()
        result = await connection.exec_driver_sql(
            LOCK_REFRESH_TOKEN_SQL, {"token_hash": token_hash}
        )
        row = result.mappings().first()
        return LockedRefreshToken(**row) if row else None

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
