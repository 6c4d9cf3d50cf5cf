"""Account mail: what each account event sends, written to the outbox in the caller's
transaction (``OutboxRepository``); the auth service delivers it.

Both services send: the auth service on registration and password resets, the users
service on an email change. Only the auth service delivers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from tessera_core.accounts.account_tokens import AccountTokenRepository
from tessera_core.db.models import User
from tessera_core.mail.outbox import OutboxRepository, RecipientBudget
from tessera_core.mail.templates import MAIL_KINDS, MailTemplates, RenderedMail
from tessera_core.settings import Settings

__all__ = [
    "MAIL_KINDS",
    "AccountMail",
    "MailTemplates",
    "OutboxRepository",
    "RecipientBudget",
    "RenderedMail",
]


@dataclass(frozen=True)
class AccountMail:
    """One unit of work's account mail.

    Example:
        >>> mail = AccountMail.in_session(db, templates, settings)  # doctest: +SKIP
        >>> await mail.email_verification(user)  # doctest: +SKIP
    """

    outbox: OutboxRepository
    tokens: AccountTokenRepository
    templates: MailTemplates
    settings: Settings

    @classmethod
    def in_session(
        cls,
        db: AsyncSession,
        templates: MailTemplates,
        settings: Settings,
        budget: RecipientBudget | None = None,
    ) -> AccountMail:
        """The mail of the unit of work ``db``: its outbox rows and link tokens are written
        in that transaction, within each recipient's ``budget``."""
        return cls(OutboxRepository(db, budget), AccountTokenRepository(db), templates, settings)

    async def password_reset(self, user: User) -> None:
        """A reset link (single use, ``TESSERA_PASSWORD_RESET_TTL_SECONDS``) to the user's
        address; earlier reset links stop working. Nothing is sent while the newest link is
        younger than ``TESSERA_PASSWORD_RESET_MIN_INTERVAL_SECONDS``: anyone may ask, and a
        stranger's request must not void the link the owner is about to follow."""
        ttl = self.settings.password_reset_ttl_seconds
        token = await self.tokens.issue_unless_recent(
            user.id,
            "reset",
            email=user.email,
            ttl_seconds=ttl,
            min_interval_seconds=self.settings.password_reset_min_interval_seconds,
        )
        if token is None:
            return
        await self._send(
            "password_reset",
            user.email,
            username=user.username,
            link=f"{self.settings.link_base}/reset-password?token={token}",
            minutes=ttl // 60,
        )

    async def password_changed(self, user: User) -> None:
        await self._send("password_changed", user.email, username=user.username)

    async def second_factor_changed(self, user: User, change: str) -> None:
        """A notice that a second factor was added, removed or replaced (``change`` says
        which, as a sentence): whoever did it may not be the owner."""
        await self._send("second_factor_changed", user.email, username=user.username, change=change)

    async def personal_token_created(
        self, user: User, name: str, scope: str, expires_at: datetime
    ) -> None:
        """A notice that a personal access token was created: whoever did it may not be the
        owner, and the token works until it is revoked or expires."""
        await self._send(
            "personal_token_created",
            user.email,
            username=user.username,
            name=name,
            scope=scope,
            expires=expires_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        )

    async def personal_token_revoked(self, user: User, name: str, *, by: str) -> None:
        """A notice that a personal access token was revoked, ``by`` whom (a phrase: "from
        your account", "by an administrator")."""
        await self._send(
            "personal_token_revoked", user.email, username=user.username, name=name, by=by
        )

    async def email_verification(self, user: User) -> None:
        """A verification link for the user's current address; earlier ones stop working."""
        ttl = self.settings.email_verification_ttl_seconds
        token = await self.tokens.issue(user.id, "verify", email=user.email, ttl_seconds=ttl)
        await self._send(
            "email_verification",
            user.email,
            username=user.username,
            email=user.email,
            link=f"{self.settings.link_base}/verify-email?token={token}",
            hours=max(ttl // 3600, 1),
        )

    async def email_changed(self, user: User, old_email: str) -> None:
        """A notice to the old address (whoever changed it may not be the owner), and a
        verification link to the new one."""
        await self._send("email_changed", old_email, username=user.username, new_email=user.email)
        await self.email_verification(user)

    async def _send(self, kind: str, recipient: str, **context: object) -> None:
        await self.outbox.enqueue(kind, recipient, self.templates.render(kind, **context))
