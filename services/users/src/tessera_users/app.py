"""The users service: ``create_app(settings)`` builds it; nothing is built at import."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
import structlog
from fastapi import FastAPI, Request

from tessera_core.accounts.passwords import PasswordHasher
from tessera_core.accounts.throttle import LoginThrottle, RequestLimit
from tessera_core.mail import MailTemplates, RecipientBudget
from tessera_core.ops.health import ReadinessCheck
from tessera_core.settings import Settings, SettingsError
from tessera_core.tokens import FileJWKSSource, HttpJWKSSource, JWKSSource
from tessera_core.web.runtime import CoreState, core_state, create_service_app
from tessera_users.admin.router import listing_router
from tessera_users.admin.router import router as admin_router
from tessera_users.cursor import CursorCodec
from tessera_users.pages.router import add_pages
from tessera_users.profiles.router import me_router
from tessera_users.profiles.router import router as profiles_router
from tessera_users.state import UsersLifespanState, UsersState

__all__ = ["create_app", "jwks_source_factory"]

log = structlog.get_logger("tessera.users")


def jwks_source_factory(
    settings: Settings, jwks_http: httpx.AsyncClient | None = None
) -> Callable[[httpx.AsyncClient], JWKSSource]:
    """Where the public keys come from: the auth service's JWKS URL, else a mounted file.
    The users service never holds a private key."""
    if settings.jwks_url:
        url = settings.jwks_url
        return lambda http: HttpJWKSSource(url, jwks_http or http)
    if settings.jwks_file:
        path = settings.jwks_file
        return lambda _http: FileJWKSSource(path)
    raise SettingsError(
        "the users service needs the auth service's public keys: set TESSERA_JWKS_URL "
        "(e.g. http://auth:8001/.well-known/jwks.json) or TESSERA_JWKS_FILE (a mounted JWKS)"
    )


def _readiness(request: Request) -> dict[str, ReadinessCheck]:
    core: CoreState = request.state.core
    # Not ready until it holds keys: without them every token would be refused.
    return {**core.readiness_checks(), "jwks": core.jwks_ready}


def create_app(
    settings: Settings | None = None,
    *,
    http_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """Build the users service.

    Args:
        settings: defaults to the environment (``TESSERA_*``).
        http_transport: the transport of the JWKS client; tests route it into an
            in-process auth app with ``httpx.ASGITransport``.
    """
    settings = settings or Settings(service_name="users")
    settings.require_production_safe(needs_cursor_secret=True)
    jwks_source_factory(settings)  # fail at startup, not at the first request
    cursors = CursorCodec(settings.cursor_secret.get_secret_value().encode())
    mail_templates = MailTemplates(settings.mail_templates_dir)  # fail at startup if broken

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[UsersLifespanState]:
        async with AsyncExitStack() as stack:
            jwks_http = None
            if http_transport is not None:
                jwks_http = await stack.enter_async_context(
                    httpx.AsyncClient(transport=http_transport, timeout=5.0)
                )
            core = await stack.enter_async_context(
                core_state(settings, jwks_source_factory(settings, jwks_http))
            )
            # Start even if the auth service is down; /readyz stays 503 until keys arrive.
            if not await core.jwks.wait_ready():
                source = settings.jwks_url or str(settings.jwks_file)
                log.warning("jwks_unavailable_at_startup", source=source)
            hasher = PasswordHasher(
                threads=settings.password_hash_threads,
                memory_kib=settings.password_hash_memory_kib,
                time_cost=settings.password_hash_time_cost,
            )
            stack.callback(hasher.close)
            throttle = LoginThrottle.from_settings(core.redis, settings)
            yield {
                "core": core,
                "users": UsersState(
                    cursors=cursors,
                    hasher=hasher,
                    throttle=throttle,
                    mail_templates=mail_templates,
                    mail_budget=RecipientBudget.from_settings(core.redis, settings),
                    email_change_limit=RequestLimit.from_settings(
                        core.redis, "email-change", settings
                    ),
                ),
            }

    app = create_service_app(
        settings,
        service="users",
        title="Tessera users",
        description="Profiles and the admin user listing.",
        docs_prefix="/api/v1/users",
        lifespan=lifespan,
        readiness=_readiness,
        # /me before /{user_id}.
        busiest=(me_router, listing_router),
        routers=(profiles_router, admin_router),
    )
    add_pages(app)
    return app
