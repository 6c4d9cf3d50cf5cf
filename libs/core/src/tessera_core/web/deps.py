"""FastAPI dependencies both services use: the request's unit of work, the ``user`` table's
repository on it, its revocations and the caller's token. Each alias is named for what it
yields."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import structlog
from fastapi import Depends, Request, Security, params
from fastapi.dependencies.models import Dependant
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession

from tessera_core.accounts.factors import FactorRepository
from tessera_core.accounts.repository import UserRepository
from tessera_core.accounts.step_up import StepUp, StepUpGuard
from tessera_core.db.unit_of_work import UnitOfWork
from tessera_core.errors import Forbidden, InsufficientScope, NotAuthenticated
from tessera_core.revocation import Revocations
from tessera_core.settings import Settings
from tessera_core.tokens import AccessClaims
from tessera_core.tokens.scopes import SCOPES, scopes_of_roles
from tessera_core.web.runtime import CoreState

__all__ = [
    "AdminClaims",
    "CoreStateDep",
    "CurrentClaims",
    "DbSessionDep",
    "RevocationsDep",
    "RevokingAdminClaims",
    "RevokingClaims",
    "SettingsDep",
    "StepUpGuardDep",
    "SteppedUpClaims",
    "UnitOfWorkDep",
    "UserRepositoryDep",
    "bearer_scheme",
    "get_admin_claims",
    "get_claims",
    "get_core_state",
    "get_db_session",
    "get_revocations",
    "get_revoking_admin_claims",
    "get_revoking_claims",
    "get_settings",
    "get_step_up_guard",
    "get_stepped_up_claims",
    "get_unit_of_work",
    "get_user_repository",
    "required_scope",
    "requires",
    "verified_claims",
]

READ_ONLY_METHODS = frozenset({"GET", "HEAD"})
# tokenUrl is what Swagger UI's "Authorize" button posts to (form-encoded, RFC 6749); the
# scopes are what it offers to ask for (tessera_core.tokens.scopes).
bearer_scheme = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", scopes=SCOPES, auto_error=False)


def requires(scope: str) -> params.Security:
    """The one declaration of the scope a route's Bearer token must hold: put it in the
    route's ``dependencies``. FastAPI writes it into the OpenAPI operation's ``security``
    (``{"OAuth2PasswordBearer": [scope]}``); the token check (``verified_claims``) reads
    it from the matched route and answers 403 ``insufficient_scope`` without it.

    Example:
        >>> @router.get("/me", dependencies=[requires(PROFILE_READ)])  # doctest: +SKIP
    """
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")
    security: params.Security = Security(bearer_scheme, scopes=[scope])
    return security


# The scope a route requires is found once and kept on the route itself (a route lives as
# long as its app; a table beside it would keep every test's routes alive).
_SCOPE_ATTRIBUTE = "tessera_required_scope"
_UNSET = object()


def _declared_scopes(dependant: Dependant) -> list[str]:
    found = list(dependant.own_oauth_scopes or []) if dependant.call is bearer_scheme else []
    for sub in dependant.dependencies:
        found.extend(s for s in _declared_scopes(sub) if s not in found)
    return found


def required_scope(route: Any) -> str | None:
    """The scope ``route`` declares with ``requires`` (``None`` if none); a route that
    declares more than one is a programming error."""
    seen = getattr(route, _SCOPE_ATTRIBUTE, _UNSET)
    if seen is not _UNSET:
        return seen  # type: ignore[return-value]
    dependant = getattr(route, "dependant", None)
    scopes = _declared_scopes(dependant) if dependant is not None else []
    if len(scopes) > 1:
        raise RuntimeError(f"{route!r} declares more than one scope: {scopes}")
    scope = scopes[0] if scopes else None
    if route is not None:
        setattr(route, _SCOPE_ATTRIBUTE, scope)
    return scope


async def get_core_state(request: Request) -> CoreState:
    core: CoreState = request.state.core
    return core


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_unit_of_work(
    request: Request, core: Annotated[CoreState, Depends(get_core_state)]
) -> AsyncIterator[UnitOfWork]:
    """The request's unit of work: for a method that writes, one transaction, committed when
    the handler returns and rolled back on error; a GET only reads: no transaction at all.
    Used with ``scope="function"`` (``UnitOfWorkDep``), so the commit runs before the
    response is sent: a 2xx is only sent for data that is committed, and a commit that fails
    answers 503 instead."""
    async with UnitOfWork(core.database, writes=request.method not in READ_ONLY_METHODS) as work:
        yield work


UnitOfWorkDep = Annotated[UnitOfWork, Depends(get_unit_of_work, scope="function")]


async def get_user_repository(work: UnitOfWorkDep) -> UserRepository:
    """The ``user`` table's one repository, on the request's unit of work."""
    return UserRepository(work)


UserRepositoryDep = Annotated[UserRepository, Depends(get_user_repository)]


async def get_db_session(work: UnitOfWorkDep) -> AsyncSession:
    """The ORM session of the request's unit of work."""
    return work.session


DbSessionDep = Annotated[AsyncSession, Depends(get_db_session)]


async def get_revocations(
    core: Annotated[CoreState, Depends(get_core_state)], db: DbSessionDep
) -> Revocations:
    return core.revocation.bind(db)


async def verified_claims(
    token: str | None,
    core: CoreState,
    revocation: Revocations | None = None,
    *,
    scope: str | None = None,
) -> AccessClaims:
    """The claims of a Bearer token after every check (``NotAuthenticated`` without one),
    bound to the request's log context; ``InsufficientScope`` if it lacks ``scope`` (and
    ``Forbidden`` if its roles could never hold it)."""
    if not token:
        raise NotAuthenticated("A Bearer access token is required.")
    claims = await core.verifier.verify(token, revocation=revocation)
    structlog.contextvars.bind_contextvars(user_id=claims.sub)
    if scope is not None and scope not in claims.scopes:
        # No token of this account could hold it: the role is missing, not the scope, and
        # a non-admin hears what it always heard (no new token would help, RFC 6750 §3.1).
        if scope not in scopes_of_roles(claims.roles):
            if "service" in claims.roles:
                raise Forbidden("Service accounts cannot use this endpoint: it is a person's own.")
            raise Forbidden("This endpoint is for administrators.")
        raise InsufficientScope(scope)
    return claims


async def get_claims(
    request: Request,
    token: Annotated[str | None, Depends(bearer_scheme)],
    core: Annotated[CoreState, Depends(get_core_state)],
) -> AccessClaims:
    return await verified_claims(token, core, scope=required_scope(request.scope.get("route")))


async def get_revoking_claims(
    request: Request,
    token: Annotated[str | None, Depends(bearer_scheme)],
    core: Annotated[CoreState, Depends(get_core_state)],
    revocations: Annotated[Revocations, Depends(get_revocations)],
) -> AccessClaims:
    """``get_claims`` for the endpoints that revoke (logout-all, a password change, a
    deactivation): revocation is checked in PostgreSQL when Redis cannot answer, so ending
    a stolen session does not wait for Redis to come back."""
    return await verified_claims(
        token, core, revocations, scope=required_scope(request.scope.get("route"))
    )


def _admin(claims: AccessClaims) -> AccessClaims:
    if not claims.manages_users:
        raise Forbidden("This endpoint is for administrators.")
    return claims


async def get_admin_claims(claims: Annotated[AccessClaims, Depends(get_claims)]) -> AccessClaims:
    return _admin(claims)


async def get_revoking_admin_claims(
    claims: Annotated[AccessClaims, Depends(get_revoking_claims)],
) -> AccessClaims:
    return _admin(claims)


CoreStateDep = Annotated[CoreState, Depends(get_core_state)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
RevocationsDep = Annotated[Revocations, Depends(get_revocations)]
CurrentClaims = Annotated[AccessClaims, Depends(get_claims)]
AdminClaims = Annotated[AccessClaims, Depends(get_admin_claims)]
RevokingClaims = Annotated[AccessClaims, Depends(get_revoking_claims)]
RevokingAdminClaims = Annotated[AccessClaims, Depends(get_revoking_admin_claims)]


async def get_step_up_guard(
    claims: RevokingClaims, work: UnitOfWorkDep, settings: SettingsDep
) -> StepUpGuard:
    """Step-up for a route whose rules decide which changes need it."""
    return StepUpGuard(StepUp.from_settings(settings), claims, FactorRepository(work))


StepUpGuardDep = Annotated[StepUpGuard, Depends(get_step_up_guard)]


async def get_stepped_up_claims(guard: StepUpGuardDep) -> AccessClaims:
    """The claims of a route that always needs step-up (a password change)."""
    await guard.require()
    return guard.claims


SteppedUpClaims = Annotated[AccessClaims, Depends(get_stepped_up_claims)]
