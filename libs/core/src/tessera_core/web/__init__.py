"""The web glue: how errors are rendered, and the ASGI middleware."""

from tessera_core.web.errors import (
    DATABASE_UNREACHABLE,
    OAUTH_RESPONSES,
    OAuthRoute,
    as_oauth_error,
    database_unreachable,
    error_response,
    install_error_handlers,
)
from tessera_core.web.middleware import BodySizeLimitMiddleware

__all__ = [
    "DATABASE_UNREACHABLE",
    "OAUTH_RESPONSES",
    "BodySizeLimitMiddleware",
    "OAuthRoute",
    "as_oauth_error",
    "database_unreachable",
    "error_response",
    "install_error_handlers",
]
