from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from tessera_core.schemas import Text

__all__ = ["LoginRequest"]


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Text = Field(min_length=1, max_length=254, description="username or email")
    password: Text = Field(min_length=1, max_length=1024)
