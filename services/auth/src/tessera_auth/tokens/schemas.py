from __future__ import annotations

from pydantic import BaseModel

__all__ = ["TokenPair"]


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "Bearer"
    expires_in: int
    refresh_expires_in: int
