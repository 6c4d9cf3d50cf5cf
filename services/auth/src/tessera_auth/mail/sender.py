"""Sends one message over SMTP (aiosmtplib)."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib

from tessera_core.db.models import MailOutbox
from tessera_core.settings import Settings


def build_message(row: MailOutbox, sender: str) -> EmailMessage:
    """A multipart/alternative message (text, then HTML). Its Message-ID is derived from the
    outbox row, so a receiver can tell a retried message from a new one."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = row.recipient
    message["Subject"] = row.subject
    message["Date"] = formatdate(localtime=False)
    domain = sender.rsplit("@", 1)[-1].strip("> ") or "tessera.invalid"
    message["Message-ID"] = make_msgid(idstring=row.id.hex, domain=domain)
    message["X-Tessera-Outbox-Id"] = str(row.id)
    message.set_content(row.body_text)
    message.add_alternative(row.body_html, subtype="html")
    return message


class SmtpSender:
    """Delivers messages to the configured relay: STARTTLS, implicit TLS or plain, with
    AUTH when a username is set.

    Example:
        >>> await SmtpSender(settings).send(message)  # doctest: +SKIP
    """

    def __init__(self, settings: Settings) -> None:
        assert settings.smtp_host is not None
        self.host = settings.smtp_host
        self.port = settings.smtp_port
        self.tls = settings.smtp_tls
        self.username = settings.smtp_username
        self.password = (
            settings.smtp_password.get_secret_value() if settings.smtp_password else None
        )
        self.timeout = settings.smtp_timeout_seconds

    async def send(self, message: EmailMessage) -> None:
        await aiosmtplib.send(
            message,
            hostname=self.host,
            port=self.port,
            username=self.username,
            password=self.password,
            use_tls=self.tls == "tls",
            start_tls=self.tls == "starttls",
            timeout=self.timeout,
        )


__all__ = ["SmtpSender", "build_message"]
