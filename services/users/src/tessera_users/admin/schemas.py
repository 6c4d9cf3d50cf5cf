from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from tessera_core.accounts.listing import Ordering
from tessera_core.schemas import Text, UserRead

__all__ = ["ListingParameters", "UserPage"]


class UserPage(BaseModel):
    items: list[UserRead]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )
    total: int | None = Field(
        None, description="Users matching the filters; only with `include_total=true`."
    )


class ListingParameters(BaseModel):
    """The listing's query parameters, read once into one model (FastAPI's query-parameter
    model, which documents each of them)."""

    limit: int = Field(20, ge=1, le=100)
    cursor: Annotated[
        Text | None, Field(max_length=1024, description="`next_cursor` of the previous page")
    ] = None
    search: Annotated[
        Text | None,
        Field(max_length=100, description="Substring of username, email or nickname, any case"),
    ] = None
    is_active: bool | None = None
    is_admin: bool | None = None
    email_verified: bool | None = None
    ordering: Ordering = Field(
        "date_joined", description="`username` sorts case-insensitively; ties cannot occur"
    )
    include_total: bool = Field(False, description="Also count the matching users (costs a count)")
