"""Who is calling, as the request shows it: read once per login and kept on the session."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ClientInfo"]


@dataclass(frozen=True)
class ClientInfo:
    """Who is logging in, as the request shows it: kept on the session."""

    ip: str | None
    user_agent: str | None
    client_id: str
