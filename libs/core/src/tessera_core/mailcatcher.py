"""A local SMTP catcher for ``tessera dev`` and the tests: every message it accepts is
written to a directory as one ``.eml`` file (written whole, then renamed into place).

Run it as ``python -m tessera_core.mailcatcher --port 1025 --dir .dev/mail``. It needs
aiosmtpd (the ``dev`` and ``dev-platform`` dependency groups), never in production.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import signal
import threading
import time
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import Any

__all__ = ["CaughtMail", "main", "read_mail"]


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


def read_mail(directory: Path) -> list[CaughtMail]:
    """Every message caught in ``directory``, oldest first.

    Example:
        >>> [m.subject for m in read_mail(Path(".dev/mail"))]  # doctest: +SKIP
        ['Confirm your email address']
    """
    return [CaughtMail(p) for p in sorted(directory.glob("*.eml"))]


class _Handler:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        name = f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.eml"
        partial = self.directory / f".{name}.part"
        partial.write_bytes(envelope.original_content or envelope.content)
        partial.rename(self.directory / name)
        return "250 Message accepted for delivery"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1025)
    parser.add_argument("--dir", type=Path, required=True)
    args = parser.parse_args(argv)
    from aiosmtpd.controller import Controller

    args.dir.mkdir(parents=True, exist_ok=True)
    controller = Controller(_Handler(args.dir), hostname=args.host, port=args.port)
    controller.start()
    print(f"mailcatcher listening on {args.host}:{args.port}, writing to {args.dir}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
