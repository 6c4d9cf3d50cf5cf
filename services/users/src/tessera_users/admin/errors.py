from __future__ import annotations

from typing import Any

from tessera_core.errors import TesseraError

__all__ = ["InvalidCursor"]


class InvalidCursor(TesseraError):
    """A cursor that this service did not issue, was altered, or belongs to another
    ordering: a validation failure, never a 500."""

    status = 422
    code = "invalid_cursor"
    title = "Invalid cursor"

    def body(self) -> dict[str, Any]:
        return {**super().body(), "errors": [{"field": "cursor", "message": self.detail}]}
