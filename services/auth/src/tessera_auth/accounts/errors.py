from __future__ import annotations

from typing import Any

from tessera_core.errors import Forbidden, TesseraError, Unauthorized

__all__ = ["EmailNotVerified", "InvalidCredentials", "InvalidCurrentPassword", "WeakPassword"]


class WeakPassword(TesseraError):
    status = 422
    code = "weak_password"
    title = "Password too weak"

    def __init__(self, problems: list[str], field: str = "password") -> None:
        super().__init__(" ".join(problems))
        self.errors = [{"field": field, "message": p} for p in problems]

    def body(self) -> dict[str, Any]:
        return {**super().body(), "errors": self.errors}


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"
    title = "Invalid credentials"
    token_presented = False


class InvalidCurrentPassword(TesseraError):
    status = 400
    code = "invalid_current_password"
    title = "Current password is incorrect"


class EmailNotVerified(Forbidden):
    code = "email_not_verified"
    title = "Email not verified"
