from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tessera_core.accounts.users import check_email
from tessera_core.schemas import Text

__all__ = ["UserUpdate"]


def _not_null(value: Any) -> Any:
    # A field may be left out of a PATCH, but not set to null: the columns are NOT NULL.
    if value is None:
        raise ValueError("may be omitted but not null")
    return value


class UserUpdate(BaseModel):
    """A partial update: only the fields present are changed. ``is_active`` and ``is_admin``
    are for administrators (403 ``forbidden_field`` otherwise); a new ``email`` needs the
    caller's ``current_password``; any other field is a 422."""

    model_config = ConfigDict(extra="forbid")

    nickname: Text | None = Field(None, max_length=150, examples=["Al"])
    first_name: Text | None = Field(None, max_length=150)
    last_name: Text | None = Field(None, max_length=150)
    email: Text | None = Field(None, max_length=254, examples=["alice@example.com"])
    is_active: bool | None = None
    is_admin: bool | None = None
    current_password: Text | None = Field(
        None,
        max_length=1024,
        description="The caller's current password: required when `email` changes "
        "(403 `reauthentication_required` when wrong or missing; wrong ones count like "
        "failed logins). Never stored or returned.",
    )

    _not_null = field_validator(
        "nickname", "first_name", "last_name", "email", "is_active", "is_admin", mode="before"
    )(_not_null)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return check_email(value) if value is not None else None

    def changes(self) -> dict[str, Any]:
        """The fields the client sent to change, and their values."""
        return self.model_dump(exclude_unset=True, exclude={"current_password"})
