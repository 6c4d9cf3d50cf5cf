"""The mail outbox: messages written in the transaction of the change that causes them,
claimed and sent by the auth service's delivery loop."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tessera_core.mail.templates import RenderedMail
from tessera_core.models import MailOutbox

__all__ = ["OutboxRepository"]

PENDING, SENT, DEAD = "pending", "sent", "dead"


class OutboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def enqueue(self, kind: str, recipient: str, mail: RenderedMail) -> MailOutbox:
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
