"""``GET /api/v1/auth/dev/mail``: the messages the dev stack's SMTP catcher received, for
``make dev`` only (mounted when ``TESSERA_ENV=dev`` and ``TESSERA_DEV_MAIL_DIR`` is set;
the settings refuse that directory anywhere else). Under the auth prefix, so the gateway
routes it like everything else; left out of the OpenAPI document."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Response

from tessera_auth.mail.mailbox import read_mail

__all__ = ["dev_mail_router"]

CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"


def dev_mail_router(directory: Path) -> APIRouter:
    router = APIRouter(prefix="/api/v1/auth/dev", include_in_schema=False)

    # A plain def: reading the directory blocks, so it runs on the thread pool.

    @router.get("/mail", response_model=None)
    def mail(format: str = "html") -> Response | list[dict[str, Any]]:
        messages = list(reversed(read_mail(directory))) if directory.exists() else []
        if format == "json":
            return [
                {
                    "to": m.recipient,
                    "subject": m.subject,
                    "date": str(m.message["Date"]),
                    "text": m.body("plain"),
                    "html": m.body("html"),
                }
                for m in messages
            ]
        # Text bodies only, escaped: a received message is never rendered as HTML here.
        items = "".join(
            f"<article><h2>{html.escape(m.subject)}</h2>"
            f"<p>To: {html.escape(m.recipient)} &middot; {html.escape(str(m.message['Date']))}</p>"
            f"<pre>{html.escape(m.body('plain'))}</pre></article>"
            for m in messages
        )
        page = (
            "<!doctype html><html><head><meta charset='utf-8'><title>Dev mail</title>"
            "<style>body{font-family:sans-serif;max-width:60rem;margin:auto}"
            "article{border-bottom:1px solid #ccc}pre{white-space:pre-wrap}</style></head>"
            f"<body><h1>Mail caught by make dev ({len(messages)})</h1>"
            f"{items or '<p>No mail yet.</p>'}</body></html>"
        )
        return Response(page, media_type="text/html", headers={"Content-Security-Policy": CSP})

    return router
