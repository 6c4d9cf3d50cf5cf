"""The dependencies every layer's routes share: the service's state and the calling client.
Each folder's own ``deps.py`` holds the rest; this module imports nothing above ``state``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from tessera_auth.client import ClientInfo
from tessera_auth.state import AuthState
from tessera_core.web.deps import SettingsDep

__all__ = ["AuthStateDep", "ClientInfoDep", "get_auth_state", "get_client_info"]


async def get_auth_state(request: Request) -> AuthState:
    state: AuthState = request.state.auth
    return state


AuthStateDep = Annotated[AuthState, Depends(get_auth_state)]


async def get_client_info(request: Request, settings: SettingsDep) -> ClientInfo:
    return ClientInfo(
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
        client_id=settings.default_client_id,
    )


ClientInfoDep = Annotated[ClientInfo, Depends(get_client_info)]
