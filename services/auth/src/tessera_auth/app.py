"""The auth service: ``create_app(settings)`` builds it; nothing is built at import."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

import structlog
from fastapi import FastAPI, Request
from joserfc.jwk import KeySet
from sqlalchemy.exc import SQLAlchemyError

from tessera_auth.accounts.router import router as accounts_router
from tessera_auth.clients.assertion import fetch_key_set
from tessera_auth.clients.router import router as clients_router
from tessera_auth.factors.router import admin_router as factors_admin_router
from tessera_auth.factors.router import router as factors_router
from tessera_auth.grants.router import oauth_router, refresh_router
from tessera_auth.grants.router import router as grants_router
from tessera_auth.keys.keystore import KeyStore
from tessera_auth.keys.metadata import authorization_server_metadata
from tessera_auth.keys.router import router as keys_router
from tessera_auth.mail.delivery import MailDelivery
from tessera_auth.mail.dev_router import dev_mail_router
from tessera_auth.mail.sender import SmtpSender
from tessera_auth.pats.router import router as pats_router
from tessera_auth.recovery.router import router as recovery_router
from tessera_auth.sessions.router import router as sessions_router
from tessera_auth.state import AuthLifespanState, AuthState
from tessera_auth.tokens.issuer import AccessTokenIssuer
from tessera_auth.tokens.router import router as tokens_router
from tessera_core.accounts.admins import ensure_admin_in
from tessera_core.accounts.passwords import PasswordHasher, common_passwords
from tessera_core.accounts.throttle import LoginThrottle, RequestLimit
from tessera_core.db.unit_of_work import UnitOfWork
from tessera_core.mail import MailTemplates, RecipientBudget
from tessera_core.ops.health import ReadinessCheck
from tessera_core.outbound import FetchedCache, OutboundClient, OutboundPolicy
from tessera_core.settings import Settings, SettingsError
from tessera_core.tokens import StaticJWKSSource
from tessera_core.tokens.keygen import write_private_key
from tessera_core.web.runtime import CoreState, add_routes, core_state, create_service_app

__all__ = ["bootstrap_admin", "create_app", "load_keys"]

log = structlog.get_logger("tessera.auth")
BOOTSTRAP_RETRY_SECONDS = 5.0


def load_keys(settings: Settings) -> KeyStore:
    if settings.keys_dir is None:
        raise SettingsError("TESSERA_KEYS_DIR is not set (generate keys with `tessera keys`)")
    if settings.is_dev and not any(settings.keys_dir.glob("*.pem")):
        path = write_private_key(settings.keys_dir, settings.signing_algorithm)
        log.warning("dev_signing_key_generated", path=str(path))
    return KeyStore(settings.keys_dir, active_kid=settings.active_kid)


async def bootstrap_admin(core: CoreState, hasher: PasswordHasher, done: asyncio.Event) -> None:
    """Create the configured admin once the database answers (idempotent, retried), then
    set ``done``."""
    try:
        await _bootstrap_admin(core, hasher)
    finally:
        done.set()


async def _bootstrap_admin(core: CoreState, hasher: PasswordHasher) -> None:
    settings = core.settings
    if not (settings.bootstrap_admin_username and settings.bootstrap_admin_password):
        return
    email = settings.bootstrap_admin_email or f"{settings.bootstrap_admin_username}@localhost"
    while True:
        try:
            async with UnitOfWork(core.database, writes=True) as work:
                outcome = await ensure_admin_in(
                    work,
                    hasher,
                    username=settings.bootstrap_admin_username,
                    email=email,
                    password=settings.bootstrap_admin_password.get_secret_value(),
                    common_file=settings.common_passwords_file,
                )
            log.info(
                "bootstrap_admin", username=settings.bootstrap_admin_username, outcome=outcome.value
            )
            return
        except ValueError as exc:
            log.error("bootstrap_admin_rejected", reason=str(exc))
            return
        except (SQLAlchemyError, OSError) as exc:
            log.warning("bootstrap_admin_waiting_for_database", error=type(exc).__name__)
            await asyncio.sleep(BOOTSTRAP_RETRY_SECONDS)


def _readiness(request: Request) -> dict[str, ReadinessCheck]:
    core: CoreState = request.state.core
    auth: AuthState = request.state.auth

    async def signing_keys() -> bool:
        auth.keys.maybe_reload()
        return auth.keys.ready

    checks = {**core.readiness_checks(), "signing_keys": signing_keys}
    if core.settings.bootstrap_admin_username:

        async def admin_exists() -> bool:
            return auth.admin_bootstrapped.is_set()

        checks["bootstrap_admin"] = admin_exists
    return checks


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings(service_name="auth")
    settings.require_production_safe(needs_signing_keys=True)
    keys = load_keys(settings)
    common = common_passwords(settings.common_passwords_file)  # fail at startup if unreadable
    oauth_metadata = authorization_server_metadata(settings)
    mail_templates = MailTemplates(settings.mail_templates_dir)  # fail at startup if broken

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[AuthLifespanState]:
        hasher = PasswordHasher(
            threads=settings.password_hash_threads,
            memory_kib=settings.password_hash_memory_kib,
            time_cost=settings.password_hash_time_cost,
        )
        outbound = OutboundClient(
            OutboundPolicy.of(settings.outbound_allow, allow_internal=settings.is_dev),
            timeout=settings.outbound_timeout_seconds,
        )

        async def fetch_client_keys(url: str) -> KeySet:
            return await fetch_key_set(outbound, url)

        async with core_state(settings, lambda _http: StaticJWKSSource(keys.jwks)) as core:
            auth = AuthState(
                keys=keys,
                hasher=hasher,
                throttle=LoginThrottle.from_settings(core.redis, settings),
                issuer=AccessTokenIssuer(keys, settings),
                common_passwords=common,
                oauth_metadata=oauth_metadata,
                mail_templates=mail_templates,
                forgot_limit=RequestLimit.from_settings(core.redis, "password-forgot", settings),
                resend_limit=RequestLimit.from_settings(core.redis, "verify-resend", settings),
                register_limit=RequestLimit.from_settings(core.redis, "register", settings),
                mail_budget=RecipientBudget.from_settings(core.redis, settings),
                outbound=outbound,
                client_key_sets=FetchedCache(
                    fetch_client_keys,
                    max_age=settings.jwks_uri_cache_seconds,
                    min_refetch_interval=settings.jwks_uri_refetch_min_interval_seconds,
                ),
            )
            await core.jwks.refresh(force=True)
            tasks = [asyncio.create_task(bootstrap_admin(core, hasher, auth.admin_bootstrapped))]
            delivery = None
            if settings.smtp_host:
                delivery = MailDelivery(core.database, SmtpSender(settings).send, settings)
                tasks.append(asyncio.create_task(delivery.run(), name="mail-delivery"))
            else:
                log.warning("mail_delivery_disabled", reason="TESSERA_SMTP_HOST is not set")
            try:
                yield {"core": core, "auth": auth}
            finally:
                if delivery is not None:
                    delivery.stop()
                for task in tasks:
                    task.cancel()
                for task in tasks:
                    with suppress(asyncio.CancelledError):
                        await task
                hasher.close()
                await outbound.aclose()

    app = create_service_app(
        settings,
        service="auth",
        title="Tessera auth",
        description="Registration, login, tokens, sessions and signing keys.",
        docs_prefix="/api/v1/auth",
        lifespan=lifespan,
        readiness=_readiness,
        # /verify before every forwarded request, then /refresh.
        busiest=(tokens_router, refresh_router),
        routers=(
            grants_router,
            oauth_router,
            accounts_router,
            factors_router,
            factors_admin_router,
            sessions_router,
            pats_router,
            clients_router,
            recovery_router,
            keys_router,
        ),
    )
    if settings.is_dev and settings.dev_mail_dir is not None:
        add_routes(app, dev_mail_router(settings.dev_mail_dir))
    return app
