"""The mail outbox: messages written in the transaction of the change that causes them,
claimed and sent by the auth service's delivery loop."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tessera_core.accounts.throttle import RequestLimit, ThrottleUnavailable, TooManyRequests
from tessera_core.accounts.users import identifier_key
from tessera_core.db.models import MailOutbox
from tessera_core.db.redis_client import RedisClient
from tessera_core.mail.templates import RenderedMail
from tessera_core.settings import Settings

__all__ = ["OutboxRepository", "RecipientBudget"]

log = structlog.get_logger("tessera.mail")
# Bounded per account already: one per TESSERA_PASSWORD_RESET_MIN_INTERVAL_SECONDS. It
# counts toward the budget but is never held back by it, so a budget a stranger spent never
# keeps the owner from resetting.
ALWAYS_QUEUED = frozenset({"password_reset"})

PENDING, SENT, DEAD = "pending", "sent", "dead"


class RecipientBudget:
    """How many messages one address may be sent per window, whatever sends them
    (registration, an email change, a resend, a reset): keyed by the address's canonical
    form (``identifier_key``), hashed in Redis like every limit.

    Example:
        >>> budget = RecipientBudget.from_settings(redis, settings)  # doctest: +SKIP
        >>> await budget.allows("password_changed", "Alice@Example.com")  # doctest: +SKIP
        True
    """

    def __init__(self, limit: RequestLimit, per_recipient: int) -> None:
        self.limit = limit
        self.per_recipient = per_recipient

    @classmethod
    def from_settings(cls, redis: RedisClient, settings: Settings) -> RecipientBudget:
        return cls(
            RequestLimit.from_settings(redis, "mail-recipient", settings),
            settings.mail_per_recipient,
        )

    async def allows(self, kind: str, recipient: str) -> bool:
        """Count one message to ``recipient``; whether it may be queued. Without Redis it
        may: mail is what an account change promises, and Redis down is no mail bomb."""
        try:
            await self.limit.hit(("recipient", identifier_key(recipient), self.per_recipient))
        except TooManyRequests:
            if kind in ALWAYS_QUEUED:
                return True
            log.warning("mail_budget_spent", kind=kind)
            return False
        except ThrottleUnavailable:
            log.warning("mail_budget_unchecked", kind=kind, reason="rate_limiter_unavailable")
        return True


class OutboxRepository:
    def __init__(self, session: AsyncSession, budget: RecipientBudget | None = None) -> None:
        self.session = session
        self.budget = budget

    async def enqueue(self, kind: str, recipient: str, mail: RenderedMail) -> MailOutbox | None:
        """Queue a message in this transaction; ``None`` (nothing queued) if the
        recipient's budget is spent."""
        if self.budget is not None and not await self.budget.allows(kind, recipient):
            return None
        row = MailOutbox(
            id=uuid.uuid4(),
            kind=kind,
            recipient=recipient,
            subject=mail.subject,
            body_text=mail.text,
            body_html=mail.html,
        )
        self.session.add(row)
        await self.session.flush()
        return row

    async def claim_due(self) -> MailOutbox | None:
        """The oldest due pending message, locked for this transaction; rows other
        transactions hold are skipped, so replicas never send the same message at once."""
        result = await self.session.scalars(
            select(MailOutbox)
            .where(MailOutbox.status == PENDING, MailOutbox.next_attempt_at <= func.now())
            .order_by(MailOutbox.next_attempt_at)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        return result.first()

    async def mark_sent(self, row: MailOutbox) -> None:
        # The bodies may hold a live link: nothing keeps them once they are delivered.
        await self.session.execute(
            update(MailOutbox)
            .where(MailOutbox.id == row.id)
            .values(
                status=SENT,
                attempts=MailOutbox.attempts + 1,
                sent_at=func.now(),
                updated_at=func.now(),
                body_text="",
                body_html="",
                last_error=None,
            )
        )

    async def mark_failed(self, row: MailOutbox, error: str, *, retry_in: float | None) -> None:
        """One more failed attempt: retried in ``retry_in`` seconds, or dead when ``None``."""
        values: dict[str, object] = {
            "attempts": MailOutbox.attempts + 1,
            "last_error": error[:1000],
            "updated_at": func.now(),
        }
        if retry_in is None:
            values["status"] = DEAD
        else:
            values["next_attempt_at"] = datetime.now(UTC) + timedelta(seconds=retry_in)
        await self.session.execute(
            update(MailOutbox).where(MailOutbox.id == row.id).values(**values)
        )

    async def depth(self) -> dict[str, int]:
        """How many messages are pending and dead."""
        rows = await self.session.execute(
            select(MailOutbox.status, func.count())
            .where(MailOutbox.status.in_((PENDING, DEAD)))
            .group_by(MailOutbox.status)
        )
        counts = {PENDING: 0, DEAD: 0}
        counts.update({status: count for status, count in rows})
        return counts
