from __future__ import annotations

import uuid
from datetime import datetime
from ipaddress import IPv4Address, IPv6Address

from pydantic import BaseModel, ConfigDict, field_serializer

from tessera_core.schemas import Text

__all__ = ["RefreshRequest", "SessionRead"]


class SessionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    user_agent: str | None
    ip: str | IPv4Address | IPv6Address | None
    current: bool = False

    @field_serializer("ip")
    def _ip(self, ip: object) -> str | None:
        return None if ip is None else str(ip)


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # No length limit but the body's: whatever is presented that is not a live refresh
    # token (an access token by mistake, say) is answered 401 invalid_refresh_token.
    refresh_token: Text
