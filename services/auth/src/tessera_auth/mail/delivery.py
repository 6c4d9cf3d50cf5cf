"""The outbox delivery loop: started by the auth service's lifespan, one per process.

Each message is claimed in a transaction of its own with ``FOR UPDATE SKIP LOCKED``, sent,
and marked in the same transaction: replicas and workers never send a message at the same
time, and a process that dies mid-send leaves the row pending (its lock goes with its
connection), so it is retried. Delivery is at least once: a crash between the relay's
acceptance and the commit sends that message again (with the same Message-ID).

A failed attempt is retried after ``TESSERA_MAIL_BACKOFF_SECONDS``, doubled per attempt up
to ``TESSERA_MAIL_BACKOFF_MAX_SECONDS``; after ``TESSERA_MAIL_MAX_ATTEMPTS`` the message is
dead (kept, with its last error, for an operator). Readiness never depends on the relay:
mail waits in PostgreSQL while it is down.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from email.message import EmailMessage

import structlog
from sqlalchemy.exc import SQLAlchemyError

from tessera_auth.mail.sender import build_message
from tessera_core.db.engine import Database
from tessera_core.db.models import MailOutbox
from tessera_core.db.unit_of_work import UnitOfWork
from tessera_core.mail import OutboxRepository
from tessera_core.ops.metrics import MAIL_FAILED, MAIL_OUTBOX_DEPTH, MAIL_SENT
from tessera_core.settings import Settings

__all__ = ["MailDelivery", "backoff"]

log = structlog.get_logger("tessera.mail")
Send = Callable[[EmailMessage], Awaitable[None]]


def backoff(settings: Settings, attempts: int) -> float:
    """Seconds before the next attempt after ``attempts`` failed ones."""
    delay = settings.mail_backoff_seconds * 2 ** max(attempts - 1, 0)
    return float(min(delay, settings.mail_backoff_max_seconds))


class MailDelivery:
    def __init__(
        self,
        database: Database,
        send: Send,
        settings: Settings,
    ) -> None:
        self.database = database
        self.send = send
        self.settings = settings
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Ask ``run`` to return after the message in hand. Cancelling the task alone is not
        enough: a cancellation that lands inside the SMTP client can be swallowed by its
        cleanup, and the loop would go on polling through the lifespan's shutdown."""
        self._stopping.set()

    async def deliver_one(self) -> bool:
        """Claim one due message and try to send it; False when none is due."""
        async with UnitOfWork(self.database, writes=True) as work:
            outbox = OutboxRepository(work.session)
            row = await outbox.claim_due()
            if row is None:
                return False
            try:
                await self.send(build_message(row, self.settings.mail_from))
            except Exception as exc:  # any failure of the relay or the network: one attempt
                await self._failed(outbox, row, exc)
            else:
                await outbox.mark_sent(row)
                MAIL_SENT.labels(kind=row.kind).inc()
                log.info("mail_sent", kind=row.kind, outbox_id=str(row.id))
        return True

    async def deliver_due(self) -> int:
        """Send every due message (until stopped); how many were tried."""
        tried = 0
        while not self._stopping.is_set() and await self.deliver_one():
            tried += 1
        return tried

    async def _failed(self, outbox: OutboxRepository, row: MailOutbox, exc: Exception) -> None:
        attempts = row.attempts + 1
        dead = attempts >= self.settings.mail_max_attempts
        error = f"{type(exc).__name__}: {exc}"
        await outbox.mark_failed(
            row, error, retry_in=None if dead else backoff(self.settings, attempts)
        )
        MAIL_FAILED.labels(kind=row.kind, final=str(dead).lower()).inc()
        log.warning(
            "mail_dead" if dead else "mail_send_failed",
            kind=row.kind,
            outbox_id=str(row.id),
            attempts=attempts,
            error=type(exc).__name__,
        )

    async def measure(self) -> None:
        async with UnitOfWork(self.database, writes=False) as work:
            depth = await OutboxRepository(work.session).depth()
        for status, count in depth.items():
            MAIL_OUTBOX_DEPTH.labels(status=status).set(count)

    async def run(self) -> None:
        """Deliver until cancelled; a database outage only pauses it."""
        log.info("mail_delivery_started", host=self.settings.smtp_host)
        while not self._stopping.is_set():
            try:
                await self.deliver_due()
                await self.measure()
            except (SQLAlchemyError, OSError) as exc:
                log.warning("mail_delivery_paused", error=type(exc).__name__)
            except Exception:
                # A bug must not end delivery for the life of the process: log, go on.
                log.exception("mail_delivery_error")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.settings.mail_poll_seconds)
        log.info("mail_delivery_stopped")
