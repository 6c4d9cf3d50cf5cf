from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from tessera_core.schemas import Text

__all__ = ["PersonalTokenCreate", "PersonalTokenCreated", "PersonalTokenRead"]


class PersonalTokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1, max_length=100, examples=["deploy script"])
    scope: Text = Field(
        min_length=1,
        max_length=1024,
        description="space-separated scopes, each one the creating token holds",
        examples=["profile:read"],
    )
    expires_in_days: int = Field(
        30, ge=1, description="days until it expires, at most TESSERA_PAT_MAX_DAYS (365)"
    )


class PersonalTokenRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    scope: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None = Field(
        description="the last accepted use, written in batches: up to "
        "TESSERA_PAT_LAST_USED_FLUSH_SECONDS (60) late"
    )


class PersonalTokenCreated(PersonalTokenRead):
    token: str = Field(
        description="the token itself: shown in this answer only, never again",
        examples=["tsr_pat_KGOsHFJj4S19au0wlWWg8NGWeQvMws1C3Kh4"],
    )
