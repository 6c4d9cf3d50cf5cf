"""Audit lines: who changed whose account, logged once the change is committed, so the trail
never shows a change that a failed commit undid (that request answers 503 instead)."""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from tessera_core.db.engine import after_commit

__all__ = ["audit_after_commit"]

log = structlog.get_logger("tessera.audit")


def audit_after_commit(session: AsyncSession, event: str, **fields: object) -> None:
    """Log ``event`` with ``fields`` once ``session``'s unit of work has committed."""

    async def write() -> None:
        log.info(event, **fields)

    after_commit(session, write)
