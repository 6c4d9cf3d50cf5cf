from __future__ import annotations

from typing import Any

from tessera_core.errors import NotFound, TesseraError

__all__ = ["ExpiryTooLong", "InvalidScope", "PersonalTokenNotFound"]


class InvalidScope(TesseraError):
    """A personal access token asked for a scope outside the vocabulary, or wider than the
    creating token holds (RFC 6749 §5.2 names the same refusal ``invalid_scope``)."""

    status = 400
    code = "invalid_scope"
    title = "Invalid scope"


class ExpiryTooLong(TesseraError):
    status = 422
    code = "expiry_too_long"
    title = "Expiry too long"

    def __init__(self, max_days: int) -> None:
        message = f"A personal access token lives at most {max_days} days."
        super().__init__(message)
        self.errors = [{"field": "expires_in_days", "message": message}]

    def body(self) -> dict[str, Any]:
        return {**super().body(), "errors": self.errors}


class PersonalTokenNotFound(NotFound):
    code = "token_not_found"
    title = "Personal access token not found"
