from __future__ import annotations

from typing import Any

from tessera_core.errors import Forbidden, NotFound

__all__ = ["ForbiddenField", "ReauthenticationRequired", "SelfLockout", "UserNotFound"]


class UserNotFound(NotFound):
    """Also what a non-admin gets for another user's id: no hint that the id exists."""

    code = "user_not_found"
    title = "User not found"


class ForbiddenField(Forbidden):
    code = "forbidden_field"
    title = "Field reserved for administrators"

    def __init__(self, fields: list[str]) -> None:
        super().__init__(f"Only an administrator may set: {', '.join(fields)}.")
        self.errors = [
            {"field": name, "message": "only an administrator may set this field"}
            for name in fields
        ]

    def body(self) -> dict[str, Any]:
        return {**super().body(), "errors": self.errors}


class SelfLockout(Forbidden):
    """An administrator deactivating, demoting or deleting their own account: refused, so the
    last administrator cannot lock everyone out by accident."""

    code = "self_lockout"
    title = "Cannot deactivate or demote yourself"


class ReauthenticationRequired(Forbidden):
    """Changing the email (the login, and where any recovery would go) needs the caller's
    current password in the same request: a stolen access token alone cannot do it."""

    code = "reauthentication_required"
    title = "Current password required"
