"""API models both services return."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

__all__ = [
    "AdminUserRead",
    "Text",
    "UserRead",
    "postgres_text",
]

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def postgres_text(value: str) -> str:
    """Return ``value`` if PostgreSQL can store it as text (and it encodes as UTF-8); else
    ValueError, so such input is a 422 rather than a driver error and a 500.

    Example:
        >>> postgres_text("alice\x00")
        Traceback (most recent call last):
        ...
        ValueError: must not contain NUL characters or unpaired surrogates
    """
    if _UNSTORABLE.search(value):
        raise ValueError("must not contain NUL characters or unpaired surrogates")
    return value


# Every string a client sends: body fields, query and form parameters.
Text = Annotated[str, AfterValidator(postgres_text)]


class UserRead(BaseModel):
    """The user as API.md shows it; the password hash is never part of it."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    username: str
    email: str
    nickname: str
    first_name: str
    last_name: str
    is_active: bool
    is_admin: bool
    email_verified: bool
    date_joined: datetime
    last_login: datetime | None


class AdminUserRead(UserRead):
    """The user as the admin rows show them (the listing, ``/users/{id}``): also whether the
    row is a service account's rather than a person's."""

    is_service: bool = Field(
        description="a service account (docs/service-accounts.md), not a person: its email "
        "is a placeholder and it has no password"
    )
