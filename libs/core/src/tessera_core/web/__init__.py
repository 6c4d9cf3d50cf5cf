"""The web glue: the service runtime and app factory, the FastAPI dependencies, the
error rendering, the ASGI middleware, the docs pages and the OpenAPI document."""

from tessera_core.web.deps import (
    AdminClaims,
    CoreStateDep,
    CurrentClaims,
    DbSessionDep,
    RevocationsDep,
    RevokingAdminClaims,
    RevokingClaims,
    SettingsDep,
    bearer_scheme,
)
from tessera_core.web.docs import SWAGGER_UI_ASSETS, docs_csp
from tessera_core.web.errors import (
    OAuthRoute,
    error_response,
    install_error_handlers,
    internal_error,
)
from tessera_core.web.pages import PAGE_HEADERS, content_security_policy
from tessera_core.web.runtime import CoreLifespanState, CoreState, core_state, create_service_app

__all__ = [
    "PAGE_HEADERS",
    "SWAGGER_UI_ASSETS",
    "AdminClaims",
    "CoreLifespanState",
    "CoreState",
    "CoreStateDep",
    "CurrentClaims",
    "DbSessionDep",
    "OAuthRoute",
    "RevocationsDep",
    "RevokingAdminClaims",
    "RevokingClaims",
    "SettingsDep",
    "bearer_scheme",
    "content_security_policy",
    "core_state",
    "create_service_app",
    "docs_csp",
    "error_response",
    "install_error_handlers",
    "internal_error",
]
