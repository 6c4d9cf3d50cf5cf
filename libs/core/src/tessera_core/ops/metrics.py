"""Prometheus metrics, labelled by route template (bounded cardinality).

With several worker processes, set ``PROMETHEUS_MULTIPROC_DIR`` (an empty directory)
before the processes start: every worker then writes its samples there and ``/metrics``
adds them up, whichever worker answers the scrape.
"""

from __future__ import annotations

import os

from fastapi import APIRouter, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

__all__ = [
    "AUTH_LOGINS",
    "AUTH_REFRESH_REUSE",
    "AUTH_TOKENS_ISSUED",
    "AUTH_TOKENS_REVOKED",
    "HTTP_DURATION",
    "HTTP_REQUESTS",
    "MAIL_FAILED",
    "MAIL_OUTBOX_DEPTH",
    "MAIL_SENT",
    "PASSWORD_CHECKS",
    "REVOCATION_FAST_PATH_FAILURES",
    "REVOCATION_RESYNCS",
    "TOKEN_VERIFICATIONS",
    "metrics_router",
    "render_metrics",
]

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests answered.", ["service", "method", "route", "status"]
)
HTTP_DURATION = Histogram(
    "http_request_duration_seconds",
    "Time to answer an HTTP request, by route template.",
    ["service", "method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
TOKEN_VERIFICATIONS = Counter(
    "token_verifications_total", "Access-token verifications, by result.", ["result"]
)
AUTH_LOGINS = Counter("auth_logins_total", "Login attempts, by result.", ["result"])
AUTH_TOKENS_ISSUED = Counter("auth_tokens_issued_total", "Tokens issued, by kind.", ["kind"])
AUTH_TOKENS_REVOKED = Counter("auth_tokens_revoked_total", "Sessions and access tokens revoked.")
AUTH_REFRESH_REUSE = Counter(
    "auth_refresh_reuse_detected_total", "Spent refresh tokens presented again."
)
# Every argon2 verification of a submitted password: what the login throttle rations.
PASSWORD_CHECKS = Counter(
    "password_checks_total", "Submitted passwords verified against a stored (or dummy) hash."
)

REVOCATION_RESYNCS = Counter(
    "revocation_resyncs_total",
    "Re-assertions of the Redis revocation fast path from PostgreSQL, by reason.",
    ["reason"],
)
REVOCATION_FAST_PATH_FAILURES = Counter(
    "revocation_fast_path_write_failures_total",
    "Committed revocations Redis could not take (re-asserted by the next resync).",
)

MAIL_SENT = Counter("auth_mail_sent_total", "Messages the SMTP relay accepted, by kind.", ["kind"])
MAIL_FAILED = Counter(
    "auth_mail_failed_total",
    "Failed delivery attempts, by kind; final=true when the message went dead.",
    ["kind", "final"],
)
# Every auth process measures the same table: in multiprocess mode the live maximum.
MAIL_OUTBOX_DEPTH = Gauge(
    "auth_mail_outbox_messages",
    "Messages in the mail outbox, by status (pending, dead).",
    ["status"],
    multiprocess_mode="livemax",
)


def render_metrics() -> tuple[bytes, str]:
    """The exposition text of this process, or of all workers in multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def metrics_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/metrics")
    async def metrics() -> Response:
        body, content_type = render_metrics()
        return Response(body, media_type=content_type)

    return router
