"""The ``service_account`` and ``service_account_secret`` tables."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tessera_core.db.models import LoginSession, ServiceAccount, ServiceAccountSecret, User
from tessera_core.db.unit_of_work import UnitOfWork

__all__ = [
    "FIND_CLIENT_SQL",
    "FIND_KEY_CLIENT_SQL",
    "ClientRow",
    "ServiceAccountRepository",
    "ServiceAccountView",
]

# A client authentication: the client_id and the secret's hash together, one lookup, so an
# unknown client and a wrong secret cost the same and answer the same.
FIND_CLIENT_SQL = """
    SELECT a.user_id, a.client_id, a.scope, s.session_id,
           u.username, u.is_admin, u.is_active, u.email_verified
    FROM service_account_secret s
    JOIN service_account a ON a.user_id = s.service_account_id
    JOIN login_session l ON l.id = s.session_id
    JOIN "user" u ON u.id = a.user_id
    WHERE a.client_id = %(client_id)s AND s.secret_hash = %(secret_hash)s
      AND l.revoked_at IS NULL AND u.is_active AND u.is_service
"""

# private_key_jwt: the account an assertion names, with its keys (or their URL) and their
# session.
FIND_KEY_CLIENT_SQL = """
    SELECT a.user_id, a.client_id, a.scope, a.key_session_id AS session_id, a.jwks,
           a.jwks_uri, u.username, u.is_admin, u.is_active, u.email_verified
    FROM service_account a
    JOIN login_session l ON l.id = a.key_session_id
    JOIN "user" u ON u.id = a.user_id
    WHERE a.client_id = %(client_id)s AND (a.jwks IS NOT NULL OR a.jwks_uri IS NOT NULL)
      AND l.revoked_at IS NULL AND u.is_active AND u.is_service
"""


@dataclass(frozen=True, slots=True)
class ClientRow:
    """``FIND_CLIENT_SQL``'s row: an authenticated client, ready to be issued a token."""

    user_id: uuid.UUID
    client_id: str
    scope: str
    session_id: uuid.UUID
    username: str
    is_admin: bool
    is_active: bool
    email_verified: bool
    jwks: dict[str, Any] | None = None
    jwks_uri: str | None = None


@dataclass(frozen=True, slots=True)
class ServiceAccountView:
    account: ServiceAccount
    is_active: bool
    secrets: Sequence[ServiceAccountSecret]

    @property
    def id(self) -> uuid.UUID:
        return self.account.user_id


class ServiceAccountRepository:
    def __init__(self, work: UnitOfWork) -> None:
        self.work = work

    @property
    def session(self) -> AsyncSession:
        return self.work.session

    async def add(self, account: ServiceAccount) -> ServiceAccount:
        self.session.add(account)
        await self.session.flush()
        await self.session.refresh(account)
        return account

    async def get(self, user_id: uuid.UUID) -> ServiceAccount | None:
        return await self.session.get(ServiceAccount, user_id)

    async def lock(self, user_id: uuid.UUID) -> ServiceAccount | None:
        """The account, its row locked until the commit: secrets are counted under it, so
        two concurrent creations cannot both pass the limit."""
        return await self.session.scalar(
            select(ServiceAccount).where(ServiceAccount.user_id == user_id).with_for_update()
        )

    async def view(self, account: ServiceAccount) -> ServiceAccountView:
        is_active = await self.session.scalar(
            select(User.is_active).where(User.id == account.user_id)
        )
        return ServiceAccountView(account, bool(is_active), await self.live_secrets(account))

    async def all(self) -> Sequence[ServiceAccount]:
        return (
            await self.session.scalars(
                select(ServiceAccount).order_by(
                    ServiceAccount.created_at.desc(), ServiceAccount.user_id
                )
            )
        ).all()

    async def live_secrets(self, account: ServiceAccount) -> Sequence[ServiceAccountSecret]:
        """The account's secrets whose session is not revoked, oldest first."""
        return (
            await self.session.scalars(
                select(ServiceAccountSecret)
                .join(LoginSession, LoginSession.id == ServiceAccountSecret.session_id)
                .where(
                    ServiceAccountSecret.service_account_id == account.user_id,
                    LoginSession.revoked_at.is_(None),
                )
                .order_by(ServiceAccountSecret.created_at, ServiceAccountSecret.id)
            )
        ).all()

    async def count_live_secrets(self, account: ServiceAccount) -> int:
        return int(
            await self.session.scalar(
                select(func.count())
                .select_from(ServiceAccountSecret)
                .join(LoginSession, LoginSession.id == ServiceAccountSecret.session_id)
                .where(
                    ServiceAccountSecret.service_account_id == account.user_id,
                    LoginSession.revoked_at.is_(None),
                )
            )
            or 0
        )

    async def add_secret(
        self, account: ServiceAccount, session_id: uuid.UUID, secret_hash: bytes
    ) -> ServiceAccountSecret:
        row = ServiceAccountSecret(
            service_account_id=account.user_id, session_id=session_id, secret_hash=secret_hash
        )
        self.session.add(row)
        await self.session.flush()
        await self.session.refresh(row)
        return row

    async def secret(
        self, account: ServiceAccount, secret_id: uuid.UUID
    ) -> ServiceAccountSecret | None:
        return await self.session.scalar(
            select(ServiceAccountSecret).where(
                ServiceAccountSecret.id == secret_id,
                ServiceAccountSecret.service_account_id == account.user_id,
            )
        )

    async def delete_secret(self, row: ServiceAccountSecret) -> None:
        await self.session.delete(row)
        await self.session.flush()

    async def find_client(self, client_id: str, secret_hash: bytes) -> ClientRow | None:
        cursor = await self.work.execute(
            FIND_CLIENT_SQL, {"client_id": client_id, "secret_hash": secret_hash}
        )
        row = await cursor.fetchone()
        return ClientRow(**row) if row else None

    async def find_key_client(self, client_id: str) -> ClientRow | None:
        cursor = await self.work.execute(FIND_KEY_CLIENT_SQL, {"client_id": client_id})
        row = await cursor.fetchone()
        return ClientRow(**row) if row else None
