from __future__ import annotations

from tessera_core.errors import NotFound, Unauthorized


class SessionNotFound(NotFound):
    code = "session_not_found"
    title = "Session not found"


class InvalidRefreshToken(Unauthorized):
    code = "invalid_refresh_token"
    title = "Invalid refresh token"


class RefreshTokenReused(Unauthorized):
    code = "refresh_token_reused"
    title = "Refresh token reused"
