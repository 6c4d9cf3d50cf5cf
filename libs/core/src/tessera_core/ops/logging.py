"""Structured logs: JSON in containers, readable in a terminal, one request id per request.

No password, token or ``Authorization`` value reaches a log: the request middleware logs
only method, route template, status, duration and ids, and a processor masks any field
whose name says it holds a secret.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog

from tessera_core.settings import Settings

__all__ = ["REQUEST_ID_HEADER", "SECRET_FIELD", "VALID_REQUEST_ID", "configure_logging"]

REQUEST_ID_HEADER = "x-request-id"
VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
SECRET_FIELD = re.compile(r"password|passwd|secret|token|authorization|cookie", re.I)


def _mask_secrets(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    for key in list(event):
        if SECRET_FIELD.search(key):
            event[key] = "[masked]"
    return event


def configure_logging(settings: Settings) -> None:
    """Configure structlog and the standard library once per process."""
    json_output = settings.log_format == "json" or (
        settings.log_format == "auto" and not sys.stderr.isatty()
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _mask_secrets,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json_output
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info
            if json_output
            else structlog.processors.StackInfoRenderer(),
            renderer,
        ],
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping().get(settings.log_level.upper(), logging.INFO)
        ),
        cache_logger_on_first_use=False,
    )
    # Library logs (uvicorn, SQLAlchemy) go through the same renderer; uvicorn's access
    # log is replaced by ours, which carries the request id and no query strings.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=shared,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True
