"""A directory of caught mail, as the dev stack's SMTP catcher writes it and the dev mail
page (``dev_router``) and the tests read it: one ``.eml`` file per message, named so that
names sort oldest first, written whole under a hidden name and then renamed into place (a
reader never sees half a message).

Both sides live here, so the file format is written down once; the SMTP server itself is
dev tooling (``tessera_devstack.mailcatcher``) and never part of this package.
"""

from __future__ import annotations

import email
import email.policy
import time
import uuid
from email.message import EmailMessage
from pathlib import Path

__all__ = ["CaughtMail", "read_mail", "store_mail"]


class CaughtMail:
    """One caught message: its file name and the parsed message."""

    def __init__(self, path: Path) -> None:
        self.path = path
        parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.message = parsed

    @property
    def recipient(self) -> str:
        return str(self.message["To"])

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    def body(self, subtype: str = "plain") -> str:
        part = self.message.get_body(preferencelist=(subtype,))
        return str(part.get_content()) if part is not None else ""


def store_mail(directory: Path, content: bytes) -> Path:
    """Write one received message (its raw RFC 5322 bytes) into ``directory``.

    Example:
        >>> store_mail(Path(".dev/mail"), b"To: a@example.com\\r\\n\\r\\nhi")  # doctest: +SKIP
        PosixPath('.dev/mail/01733551234567890123-1f2e3d4c.eml')
    """
    name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.eml"
    partial = directory / f".{name}.part"
    partial.write_bytes(content)
    return partial.rename(directory / name)


def read_mail(directory: Path) -> list[CaughtMail]:
    """Every message caught in ``directory``, oldest first.

    Example:
        >>> [m.subject for m in read_mail(Path(".dev/mail"))]  # doctest: +SKIP
        ['Confirm your email address']
    """
    return [CaughtMail(p) for p in sorted(directory.glob("*.eml"))]
