from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from tessera_core.schemas import UserRead

Ordering = Literal["date_joined", "-date_joined", "username", "-username"]


class UserPage(BaseModel):
    items: list[UserRead]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )
    total: int | None = Field(
        None, description="Users matching the filters; only with `include_total=true`."
    )
