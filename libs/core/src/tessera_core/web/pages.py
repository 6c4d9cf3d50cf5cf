"""What the HTML pages the services serve (the API docs, the admin console) send besides
the page: one Content-Security-Policy builder and the headers that go with it.

The policy starts from ``default-src 'none'`` and names this origin only; a page that
needs more (Swagger UI's inline configuration script and inline styles) says so in the
arguments, so every exception is visible where the page is served.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["PAGE_HEADERS", "content_security_policy"]

# Sent with every page and every file a page loads.
PAGE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # frame-ancestors 'none' says the same to browsers that read CSP; this is for the rest.
    "X-Frame-Options": "DENY",
}


def content_security_policy(
    *, scripts: Iterable[str] = (), styles: Iterable[str] = (), images: Iterable[str] = ()
) -> str:
    """A policy allowing this origin (``'self'``) plus the given extra sources per kind,
    and nothing from anywhere else: no plugins, no base URL, no framing.

    Example:
        >>> content_security_policy()
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    """
    return "; ".join(
        [
            "default-src 'none'",
            " ".join(["script-src 'self'", *scripts]),
            " ".join(["style-src 'self'", *styles]),
            " ".join(["img-src 'self'", *images]),
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )
