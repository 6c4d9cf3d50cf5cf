from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from tessera_auth.tokens.issuer import TokenSubject
from tessera_core.db.models import LoginSession, PersonalAccessToken, RefreshToken
from tessera_core.db.unit_of_work import UnitOfWork

__all__ = [
    "FIND_REFRESH_TOKEN_SQL",
    "LOCK_REFRESH_TOKEN_SQL",
    "ROTATE_SQL",
    "LoginSessionRepository",
    "RefreshTokenRow",
]

# Written for psycopg (``%(name)s``): the lookup runs in the unit of work's transaction,
# locking the token (logout and RFC 7009 revocation), and committed on its own as it is (a
# refresh, ``LoginSessionRepository.find_refresh_token``): one text for the rule-bearing SQL.
FIND_REFRESH_TOKEN_SQL = """
    SELECT t.id AS token_id, t.session_id, t.spent_at, t.expires_at,
           s.revoked_at AS session_revoked_at, s.expires_at AS session_expires_at,
           s.client_id, s.created_at AS session_created_at, s.amr, s.scope, s.user_id,
           u.username, u.is_admin, u.is_active, u.email_verified
    FROM refresh_token t
    JOIN login_session s ON s.id = t.session_id
    JOIN "user" u ON u.id = s.user_id
    WHERE t.token_hash = %(token_hash)s
"""
LOCK_REFRESH_TOKEN_SQL = FIND_REFRESH_TOKEN_SQL + "    FOR UPDATE OF t\n"

# The token row's update waits for any transaction holding it (a logout, a concurrent
# refresh) and then checks its condition on the row as committed: of two refreshes of one
# token, one inserts a successor, the other none (``rotate`` returns False).
ROTATE_SQL = """
    WITH spent AS (
        UPDATE refresh_token t SET spent_at = coalesce(t.spent_at, %(now)s)
        FROM login_session s, "user" u
        WHERE t.id = %(token_id)s AND t.spent_at IS NOT DISTINCT FROM %(seen_spent_at)s
          AND s.id = t.session_id AND s.revoked_at IS NULL
          AND u.id = s.user_id AND u.is_active
        RETURNING t.session_id
    ), touched AS (
        UPDATE login_session SET last_used_at = %(now)s
        WHERE id = (SELECT session_id FROM spent)
    )
    INSERT INTO refresh_token (id, session_id, token_hash, expires_at)
    SELECT %(next_id)s, session_id, %(next_hash)s, %(expires_at)s FROM spent
"""


# A login session that no personal access token owns.
_NOT_A_PAT = ~exists().where(PersonalAccessToken.session_id == LoginSession.id)


@dataclass(frozen=True, slots=True)
class RefreshTokenRow:
    """A refresh token with what its session and its user say about it
    (``FIND_REFRESH_TOKEN_SQL``'s row): locked for the rest of its transaction when read with
    ``LOCK_REFRESH_TOKEN_SQL`` (logout), as it was at the read otherwise (a refresh)."""

    token_id: uuid.UUID
    session_id: uuid.UUID
    spent_at: datetime | None
    expires_at: datetime
    session_revoked_at: datetime | None
    session_expires_at: datetime
    client_id: str
    session_created_at: datetime
    amr: list[str]
    scope: str | None
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
            amr=tuple(self.amr),
            scope=self.scope,
        )


class LoginSessionRepository:
    """Login sessions and their refresh tokens. A refresh is two statements, each committed
    on its own (``UnitOfWork.execute_now``): read the token (``find_refresh_token``), then
    spend it and insert its successor only if it is still as it was read
    (``rotate_refresh_token``). No transaction is held between them, no BEGIN or COMMIT
    travels: two round trips on one connection (measured in-process against the locking
    transaction it replaced, in docs/benchmarks.md). Logout and revocation lock the token in
    the request's transaction instead (``refresh_token_for_update``)."""

    def __init__(self, work: UnitOfWork) -> None:
        self.work = work

    @property
    def session(self) -> AsyncSession:
        return self.work.session

    async def find_refresh_token(self, token_hash: bytes) -> RefreshTokenRow | None:
        """The refresh token with its session and user, as they are now (not locked)."""
        cursor = await self.work.execute_now(FIND_REFRESH_TOKEN_SQL, {"token_hash": token_hash})
        row = await cursor.fetchone()
        return RefreshTokenRow(**row) if row else None

    async def rotate_refresh_token(
        self, token: RefreshTokenRow, next_hash: bytes, expires_at: datetime, now: datetime
    ) -> bool:
        """Spend ``token`` (keeping the first spend's time), touch its session and insert its
        successor, in one statement; only if the token is unspent or spent when it was
        read, its session not revoked and its user active. False, writing nothing, if any
        of that changed since ``find_refresh_token``: two refreshes of one token race, one
        of them wins."""
        cursor = await self.work.execute_now(
            ROTATE_SQL,
            {
                "token_id": token.token_id,
                "seen_spent_at": token.spent_at,
                "next_id": uuid.uuid4(),
                "next_hash": next_hash,
                "expires_at": expires_at,
                "now": now,
            },
        )
        return cursor.rowcount == 1

    async def create(
        self,
        *,
        user_id: uuid.UUID,
        client_id: str,
        expires_at: datetime,
        user_agent: str | None,
        ip: str | None,
        amr: tuple[str, ...],
        scope: str | None = None,
    ) -> LoginSession:
        login = LoginSession(
            user_id=user_id,
            client_id=client_id,
            expires_at=expires_at,
            user_agent=user_agent[:512] if user_agent else None,
            ip=ip,
            amr=list(amr),
            scope=scope,
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

    async def refresh_token_for_update(self, token_hash: bytes) -> RefreshTokenRow | None:
        """The refresh token, locked in the unit of work's transaction: logout and
        revocation wait for a rotation of the same token to commit, and see its outcome."""
        cursor = await self.work.execute(LOCK_REFRESH_TOKEN_SQL, {"token_hash": token_hash})
        row = await cursor.fetchone()
        return RefreshTokenRow(**row) if row else None

    async def get_for_user(self, session_id: uuid.UUID, user_id: uuid.UUID) -> LoginSession | None:
        """One of the user's login sessions; ``None`` for anyone else's, and for the session
        of a personal access token (revoked through its own endpoint, which tells the owner)."""
        return await self.session.scalar(
            select(LoginSession).where(
                LoginSession.id == session_id, LoginSession.user_id == user_id, _NOT_A_PAT
            )
        )

    async def active_for_user(self, user_id: uuid.UUID, now: datetime) -> Sequence[LoginSession]:
        """The user's live logins, most recently used first; personal access tokens, which
        own sessions too, are listed by ``GET /tokens`` instead."""
        return (
            await self.session.scalars(
                select(LoginSession)
                .where(
                    LoginSession.user_id == user_id,
                    LoginSession.revoked_at.is_(None),
                    LoginSession.expires_at > now,
                    _NOT_A_PAT,
                )
                .order_by(LoginSession.last_used_at.desc())
            )
        ).all()
