"""A local SMTP catcher for ``make dev`` and the tests: every message it accepts is
written to a directory as one ``.eml`` file, in the format the auth service's dev mail page
reads (``tessera_auth.mail.mailbox``).

Run it as ``python -m tessera_devstack.mailcatcher --port 1025 --dir .dev/mail``.
"""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from tessera_auth.mail.mailbox import store_mail

__all__ = ["MailboxHandler", "main"]


class MailboxHandler:
    """aiosmtpd handler: stores each message's bytes as received."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        store_mail(self.directory, envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tessera_devstack.mailcatcher",
        description="An SMTP server that writes every message to a directory.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1025)
    parser.add_argument("--dir", type=Path, required=True)
    args = parser.parse_args(argv)
    args.dir.mkdir(parents=True, exist_ok=True)
    controller = Controller(MailboxHandler(args.dir), hostname=args.host, port=args.port)
    controller.start()
    print(f"mailcatcher listening on {args.host}:{args.port}, writing to {args.dir}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
