from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from tessera_core.accounts.listing import Ordering
from tessera_core.schemas import AdminUserRead, Text

__all__ = ["Kind", "ListingParameters", "UserPage"]

# Who the listing shows: people, service accounts, or (absent) both.
Kind = Literal["person", "service"]


class UserPage(BaseModel):
    items: list[AdminUserRead]
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
    kind: Kind | None = Field(
        None,
        description="`person`: people only; `service`: service accounts only "
        "(`is_service`); absent: both",
    )
    ordering: Ordering = Field(
        "date_joined", description="`username` sorts case-insensitively; ties cannot occur"
    )
    include_total: bool = Field(False, description="Also count the matching users (costs a count)")
