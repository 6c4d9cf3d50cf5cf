"""The one error of the dev stack."""

from __future__ import annotations

__all__ = ["DevStackError"]


class DevStackError(RuntimeError):
    """The dev stack cannot start; the message says why and what to do."""
