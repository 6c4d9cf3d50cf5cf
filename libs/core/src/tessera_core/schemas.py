"""API models both services return."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict

__all__ = [
    "UserRead",
]


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
    date_joined: datetime
    last_login: datetime | None
