"""What a service holds while it runs: built in its lifespan, which yields it as the typed
lifespan state that every request sees as ``request.state``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypedDict

import httpx
import psycopg
import psycopg_pool
from fastapi import APIRouter, FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute

from tessera_core.db.engine import Database
from tessera_core.db.redis_client import RedisClient, make_redis
from tessera_core.ops.health import CheckResult, ReadinessCheck, health_router
from tessera_core.ops.logging import configure_logging
from tessera_core.ops.metrics import metrics_router
from tessera_core.outbound import system_tls
from tessera_core.revocation import EVICTING_POLICIES, RevocationStore
from tessera_core.settings import Settings
from tessera_core.tokens import JWKSCache, JWKSSource, TokenVerifier
from tessera_core.tokens.pat_verify import PersonalTokenVerifier
from tessera_core.web.docs import add_docs
from tessera_core.web.errors import install_error_handlers
from tessera_core.web.middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from tessera_core.web.openapi import finish_openapi

__all__ = [
    "CoreLifespanState",
    "CoreState",
    "add_routes",
    "core_state",
    "create_service_app",
]


@dataclass
class CoreState:
    settings: Settings
    database: Database
    redis: RedisClient
    revocation: RevocationStore
    jwks: JWKSCache
    verifier: TokenVerifier
    http: httpx.AsyncClient

    async def database_ready(self) -> bool:
        try:
            async with self.database.pool.connection() as conn:
                await conn.execute("SELECT 1")
            return True
        except (psycopg.Error, psycopg_pool.PoolTimeout, OSError):
            return False

    async def jwks_ready(self) -> bool:
        return await self.jwks.wait_ready()

    async def redis_ready(self) -> CheckResult:
        """Redis answers, the fast path is trusted, and (outside dev) Redis does not evict
        keys, unless ``TESSERA_REDIS_ALLOW_EVICTION`` accepts that."""
        if not await self.revocation.ping():
            return CheckResult(False)
        policy = self.revocation.maxmemory_policy
        if policy is None:
            return CheckResult(True, {"maxmemory_policy": "unknown"})
        detail = {"maxmemory_policy": policy}
        evicts = policy in EVICTING_POLICIES
        if evicts and not (self.settings.is_dev or self.settings.redis_allow_eviction):
            detail["problem"] = (
                f"maxmemory-policy {policy} may evict revocations: run Redis with noeviction, "
                "or set TESSERA_REDIS_ALLOW_EVICTION=true"
            )
            return CheckResult(False, detail)
        return CheckResult(True, detail)

    def readiness_checks(self) -> dict[str, ReadinessCheck]:
        return {
            "database": self.database_ready,
            "redis": self.redis_ready,
        }

    async def aclose(self) -> None:
        await self.http.aclose()
        await self.redis.aclose()
        await self.database.close()


class CoreLifespanState(TypedDict):
    """The lifespan state every service yields; each service's own state extends it."""

    core: CoreState


@asynccontextmanager
async def core_state(
    settings: Settings, jwks_source: Callable[[httpx.AsyncClient], JWKSSource]
) -> AsyncIterator[CoreState]:
    """Build the shared resources; close them on exit.

    Example:
        >>> async with core_state(settings, lambda _: FileJWKSSource(p)) as core:  # doctest: +SKIP
        ...     await core.verifier.verify(token)
    """
    database = Database(settings)
    await database.open()  # PostgreSQL may come up later: readiness says so
    redis = make_redis(settings)
    http = httpx.AsyncClient(timeout=5.0, verify=system_tls())
    revocation = RevocationStore(
        redis,
        database,
        access_ttl_seconds=settings.access_token_ttl_seconds,
        leeway_seconds=settings.leeway_seconds,
        resync_seconds=settings.revocation_resync_seconds,
    )
    jwks = JWKSCache(
        jwks_source(http),
        max_age=settings.jwks_cache_seconds,
        min_refetch_interval=settings.jwks_refetch_min_interval_seconds,
    )
    personal = PersonalTokenVerifier(
        database,
        issuer=settings.issuer,
        # A row read before a revocation may be trusted this long; the fast path holds the
        # revoked session for its window (access TTL + leeway), and the row says it after.
        cache_seconds=min(settings.pat_cache_seconds, revocation.window_seconds / 2),
        flush_seconds=settings.pat_last_used_flush_seconds,
    )
    verifier = TokenVerifier(
        jwks=jwks,
        revocation=revocation,
        issuer=settings.issuer,
        audience=settings.audience,
        algorithms=list(settings.allowed_algorithms),
        leeway=settings.leeway_seconds,
        personal=personal,
    )
    state = CoreState(
        settings,
        database,
        redis,
        revocation,
        jwks,
        verifier,
        http,
    )
    keeper = asyncio.create_task(revocation.keep_fast_path(), name="revocation-fast-path")
    last_used = asyncio.create_task(personal.keep_last_used(), name="pat-last-used")
    try:
        yield state
    finally:
        revocation.stop_keeping()
        personal.stop_keeping()
        for task in (keeper, last_used):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        with contextlib.suppress(Exception):  # what this worker saw last, if PostgreSQL is up
            await personal.flush()
        await state.aclose()


def create_service_app(
    settings: Settings,
    *,
    service: str,
    title: str,
    docs_prefix: str,
    lifespan: Callable[[FastAPI], Any],
    readiness: Callable[[Request], Mapping[str, ReadinessCheck]],
    routers: Sequence[APIRouter],
    busiest: Sequence[APIRouter] = (),
    description: str = "",
) -> FastAPI:
    """The FastAPI app every service starts from: its ``routers``, errors, request context,
    body limit, probes and metrics. Docs live under the service's own prefix so the gateway
    can route them without rewriting, and load nothing from outside (``tessera_core.web.docs``).

    The router tries routes in order (a few µs each, profiled): the ``busiest`` routers
    (``LeanRoute`` ones, paths without parameters) come first, then the probes and metrics,
    the docs, and ``routers``."""
    configure_logging(settings)
    app = FastAPI(
        title=title,
        description=description,
        version="1.0.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=f"{docs_prefix}/openapi.json",
        # FastAPI's own OpenTelemetry hooks look the providers up on every request
        # (a tenth of /verify's time); Tessera's metrics are Prometheus (tessera_core.ops.metrics).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    # The router tries routes in order: the busiest first (every client, many times a
    # minute), then the probes (every few seconds, from every kubelet), then the docs
    # (/api/v1/users/docs also fits /users/{user_id}), then the service's other routes.
    for router in busiest:
        add_routes(app, router)
    add_routes(app, health_router(readiness))
    add_routes(app, metrics_router())
    add_docs(app, docs_prefix)
    for router in routers:
        add_routes(app, router)
    app.state.settings = settings
    app.state.draining = False
    install_error_handlers(app)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        # Bearer tokens, not cookies: credentials stay off, so "*" cannot leak a session.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After", "WWW-Authenticate"],
        )
    app.add_middleware(RequestContextMiddleware, service=service)
    _add_problem_schema(app)
    return app


def add_routes(app: FastAPI, router: APIRouter) -> None:
    """``router``'s routes as routes of ``app`` itself, each with its own route class, as
    ``APIRouter.add_api_route`` declares them. ``include_router`` would nest the router instead,
    and FastAPI matches an included router's routes through a context per inclusion: with
    ten routers, ~100 µs of every request went to finding its route (profiled)."""
    for route in router.routes:
        if not isinstance(route, APIRoute):
            app.router.routes.append(route)
            continue
        app.router.add_api_route(
            route.path,
            route.endpoint,
            response_model=route.response_model,
            status_code=route.status_code,
            tags=route.tags,
            dependencies=route.dependencies,
            summary=route.summary,
            description=route.description,
            response_description=route.response_description,
            responses=route.responses,
            deprecated=route.deprecated,
            methods=sorted(route.methods or ()),
            operation_id=route.operation_id,
            response_model_include=route.response_model_include,
            response_model_exclude=route.response_model_exclude,
            response_model_by_alias=route.response_model_by_alias,
            response_model_exclude_unset=route.response_model_exclude_unset,
            response_model_exclude_defaults=route.response_model_exclude_defaults,
            response_model_exclude_none=route.response_model_exclude_none,
            include_in_schema=route.include_in_schema,
            response_class=route.response_class,
            name=route.name,
            route_class_override=type(route),
            callbacks=route.callbacks,
            openapi_extra=route.openapi_extra,
            generate_unique_id_function=route.generate_unique_id_function,
        )


def _add_problem_schema(app: FastAPI) -> None:
    from fastapi.openapi.utils import get_openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        finish_openapi(schema)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
