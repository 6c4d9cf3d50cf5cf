from __future__ import annotations

from tessera_core.errors import NotFound, Unauthorized

__all__ = ["InvalidRefreshToken", "RefreshTokenReused", "SessionNotFound", "UserNotFound"]


class SessionNotFound(NotFound):
    code = "session_not_found"
    title = "Session not found"


class UserNotFound(NotFound):
    """An administrator naming a user id no account has. The users service has its own
    class of this code; the services import nothing from each other."""

    code = "user_not_found"
    title = "User not found"


class InvalidRefreshToken(Unauthorized):
    code = "invalid_refresh_token"
    title = "Invalid refresh token"


class RefreshTokenReused(Unauthorized):
    code = "refresh_token_reused"
    title = "Refresh token reused"
