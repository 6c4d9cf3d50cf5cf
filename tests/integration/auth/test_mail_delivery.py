"""The outbox delivery loop against a real SMTP server (aiosmtpd in a process): nothing
lost while the server is down, nothing sent twice by concurrent loops, dead letters."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tessera_auth.mail.delivery import MailDelivery, backoff
from tessera_auth.mail.sender import SmtpSender
from tessera_core.db.engine import Database
from tessera_core.db.unit_of_work import UnitOfWork
from tessera_core.mail import MailTemplates, OutboxRepository
from tessera_core.settings import Settings
from tests.fixtures.apps import PASSWORD, SettingsFactory, running
from tests.fixtures.smtp import SmtpServer


def smtp_settings(
    make_settings: SettingsFactory, smtp: SmtpServer, **overrides: object
) -> Settings:
    return make_settings(
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        smtp_tls="none",
        mail_poll_seconds=0.05,
        mail_backoff_seconds=0.05,
        mail_backoff_max_seconds=0.1,
        **overrides,
    )


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    async with Database(settings) as database:
        yield database


async def enqueue(database: Database, count: int) -> set[str]:
    templates = MailTemplates()
    ids = set()
    async with UnitOfWork(database, writes=True) as work:
        outbox = OutboxRepository(work.session)
        for i in range(count):
            mail = templates.render("password_changed", username=f"user{i}")
            row = await outbox.enqueue("password_changed", f"u{i}@example.com", mail)
            assert row is not None
            ids.add(str(row.id))
    return ids


async def statuses(db_engine: AsyncEngine) -> dict[str, int]:
    async with db_engine.connect() as conn:
        rows = await conn.execute(text("SELECT status, count(*) FROM mail_outbox GROUP BY status"))
        return {status: count for status, count in rows}


def outbox_ids(smtp: SmtpServer) -> list[str]:
    return [str(m.message["X-Tessera-Outbox-Id"]) for m in smtp.messages()]


class TestDelivery:
    async def test_two_loops_at_once_send_each_message_once(
        self, make_settings, smtp_server, database, db_engine
    ):
        settings = smtp_settings(make_settings, smtp_server)
        ids = await enqueue(database, 40)
        loops = [MailDelivery(database, SmtpSender(settings).send, settings) for _ in range(2)]
        tried = await asyncio.gather(*(loop.deliver_due() for loop in loops))
        assert sum(tried) == 40
        assert all(n > 0 for n in tried), tried  # both loops took a share
        sent = outbox_ids(smtp_server)
        assert sorted(sent) == sorted(ids)  # each exactly once
        assert await statuses(db_engine) == {"sent": 40}

    async def test_nothing_is_lost_or_sent_twice_while_the_server_is_down(
        self, make_settings, smtp_server, db_engine
    ):
        from tessera_auth.app import create_app

        smtp_server.stop()
        app: FastAPI = create_app(smtp_settings(make_settings, smtp_server))
        async with running(app) as client:
            for name in ("dora", "eve", "fay"):
                body = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
                assert (await client.post("/api/v1/auth/register", json=body)).status_code == 201
            await asyncio.sleep(0.5)
            async with db_engine.connect() as conn:
                attempts = (
                    await conn.execute(text("SELECT min(attempts) FROM mail_outbox"))
                ).scalar_one()
            assert attempts >= 1  # tried, failed, kept
            assert await statuses(db_engine) == {"pending": 3}
            ready = await client.get("/readyz")
            assert ready.status_code == 200  # the relay is not a dependency of readiness
            smtp_server.start()
            caught = await smtp_server.wait_for(3)
            await asyncio.sleep(0.5)  # a second send would arrive by now
        assert sorted(m.recipient for m in smtp_server.messages()) == [
            "dora@example.com",
            "eve@example.com",
            "fay@example.com",
        ]
        assert len(set(outbox_ids(smtp_server))) == len(caught) == 3
        assert await statuses(db_engine) == {"sent": 3}

    async def test_a_message_goes_dead_after_the_last_attempt(
        self, make_settings, smtp_server, database, db_engine
    ):
        settings = smtp_settings(make_settings, smtp_server, mail_max_attempts=3)
        smtp_server.stop()
        failed_before = (
            REGISTRY.get_sample_value(
                "auth_mail_failed_total", {"kind": "password_changed", "final": "true"}
            )
            or 0.0
        )
        (message_id,) = await enqueue(database, 1)
        loop = MailDelivery(database, SmtpSender(settings).send, settings)
        for _ in range(20):
            await loop.deliver_due()
            if await statuses(db_engine) == {"dead": 1}:
                break
            await asyncio.sleep(0.05)
        async with db_engine.connect() as conn:
            row = (
                await conn.execute(
                    text("SELECT status, attempts, last_error FROM mail_outbox WHERE id = :id"),
                    {"id": uuid.UUID(message_id)},
                )
            ).one()
        assert row.status == "dead"
        assert row.attempts == 3
        assert row.last_error
        failed_after = REGISTRY.get_sample_value(
            "auth_mail_failed_total", {"kind": "password_changed", "final": "true"}
        )
        assert failed_after == failed_before + 1
        smtp_server.start()
        assert await loop.deliver_due() == 0  # dead letters are not retried
        await loop.measure()
        assert REGISTRY.get_sample_value("auth_mail_outbox_messages", {"status": "dead"}) == 1
        assert smtp_server.messages() == []

    async def test_sent_messages_are_counted(self, make_settings, smtp_server, database):
        settings = smtp_settings(make_settings, smtp_server)
        before = (
            REGISTRY.get_sample_value("auth_mail_sent_total", {"kind": "password_changed"}) or 0.0
        )
        await enqueue(database, 2)
        await MailDelivery(database, SmtpSender(settings).send, settings).deliver_due()
        after = REGISTRY.get_sample_value("auth_mail_sent_total", {"kind": "password_changed"})
        assert after == before + 2


class TestShutdown:
    async def test_stops_although_the_smtp_client_swallows_the_cancellation(
        self, make_settings, smtp_server, database, db_engine
    ):
        """An SMTP client whose cleanup swallows the cancellation (as one can when cancelled
        mid-conversation) must not keep the loop, and so the lifespan's shutdown, alive."""
        settings = smtp_settings(make_settings, smtp_server)
        sending = asyncio.Event()

        async def stubborn_send(message: object) -> None:
            sending.set()
            with contextlib.suppress(asyncio.CancelledError):  # swallowed, as a cleanup may
                await asyncio.sleep(0.5)

        await enqueue(database, 1)
        loop = MailDelivery(database, stubborn_send, settings)
        task = asyncio.create_task(loop.run())
        await asyncio.wait_for(sending.wait(), 10)
        loop.stop()
        task.cancel()
        await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), 5)
        assert task.done()


class TestBackoff:
    def test_doubles_up_to_the_cap(self, make_settings):
        settings = make_settings(mail_backoff_seconds=30, mail_backoff_max_seconds=100)
        assert [backoff(settings, n) for n in (1, 2, 3, 4)] == [30, 60, 100, 100]
