"""Running and watching a service: probes (``health``), Prometheus metrics
(``metrics``), structured logs (``logging``), the server (``serve``) and the
migration helper (``migrations``)."""

from tessera_core.ops.health import CheckResult, ReadinessCheck, health_router
from tessera_core.ops.logging import configure_logging
from tessera_core.ops.metrics import (
    AUTH_LOGINS,
    AUTH_REFRESH_REUSE,
    AUTH_TOKENS_ISSUED,
    AUTH_TOKENS_REVOKED,
    MAIL_FAILED,
    MAIL_OUTBOX_DEPTH,
    MAIL_SENT,
    PASSWORD_CHECKS,
    REVOCATION_FAST_PATH_FAILURES,
    REVOCATION_RESYNCS,
    TOKEN_VERIFICATIONS,
    metrics_router,
)

__all__ = [
    "AUTH_LOGINS",
    "AUTH_REFRESH_REUSE",
    "AUTH_TOKENS_ISSUED",
    "AUTH_TOKENS_REVOKED",
    "MAIL_FAILED",
    "MAIL_OUTBOX_DEPTH",
    "MAIL_SENT",
    "PASSWORD_CHECKS",
    "REVOCATION_FAST_PATH_FAILURES",
    "REVOCATION_RESYNCS",
    "TOKEN_VERIFICATIONS",
    "CheckResult",
    "ReadinessCheck",
    "configure_logging",
    "health_router",
    "metrics_router",
]
