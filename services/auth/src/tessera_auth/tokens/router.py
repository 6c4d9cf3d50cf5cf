from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Response, status

from tessera_auth.accounts import service as accounts
from tessera_auth.accounts.errors import InvalidCredentials, TooManyAttempts
from tessera_auth.deps import AuthDep, ClientDep, SessionsDep, UsersDep
from tessera_auth.sessions import service as sessions_service
from tessera_auth.sessions.errors import InvalidRefreshToken, RefreshTokenReused
from tessera_auth.sessions.schemas import RefreshRequest
from tessera_auth.tokens import service
from tessera_auth.tokens.schemas import LoginRequest, TokenPair
from tessera_core.deps import CoreDep, CurrentClaims, SettingsDep
from tessera_core.errors import (
    BEARER_ERRORS,
    RevocationUnavailable,
    ServiceUnavailable,
    problem_responses,
)

router = APIRouter(prefix="/api/v1/auth", tags=["tokens"])
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


@router.post(
    "/login",
    response_model=TokenPair,
    responses=problem_responses(InvalidCredentials, TooManyAttempts, ServiceUnavailable),
)
async def login(
    data: LoginRequest,
    response: Response,
    users: UsersDep,
    sessions: SessionsDep,
    auth: AuthDep,
    client: ClientDep,
    settings: SettingsDep,
) -> TokenPair:
    """Exchange a username (or email) and password for a token pair."""
    response.headers.update(NO_STORE)
    user = await accounts.authenticate(
        users,
        auth.hasher,
        auth.throttle,
        login=data.username,
        password=data.password,
        client=client.ip,
    )
    return await sessions_service.start(sessions, auth.issuer, settings, user, client)


@router.post(
    "/refresh",
    response_model=TokenPair,
    responses=problem_responses(InvalidRefreshToken, RefreshTokenReused, RevocationUnavailable),
)
async def refresh(
    data: RefreshRequest,
    response: Response,
    users: UsersDep,
    sessions: SessionsDep,
    auth: AuthDep,
    core: CoreDep,
    settings: SettingsDep,
) -> TokenPair:
    """Spend a refresh token for a new pair."""
    response.headers.update(NO_STORE)
    return await sessions_service.rotate(
        sessions, users, auth.issuer, core.revocation, settings, data.refresh_token
    )


@router.post("/token", response_model=TokenPair, tags=["oauth"])
async def token(
    grant_type: Annotated[str, Form()],
    response: Response,
    users: UsersDep,
    sessions: SessionsDep,
    auth: AuthDep,
    core: CoreDep,
    client: ClientDep,
    settings: SettingsDep,
    username: Annotated[str | None, Form(max_length=254)] = None,
    password: Annotated[str | None, Form(max_length=1024)] = None,
    refresh_token: Annotated[str | None, Form(max_length=512)] = None,
    scope: Annotated[str | None, Form(max_length=1024)] = None,
    client_id: Annotated[str | None, Form(max_length=100)] = None,
) -> TokenPair:
    """OAuth 2.0 token endpoint (RFC 6749 §4.3 password and §6 refresh_token grants)."""
    response.headers.update(NO_STORE)
    return await service.token_endpoint(
        grant_type=grant_type,
        username=username,
        password=password,
        refresh_token=refresh_token,
        users=users,
        sessions=sessions,
        auth=auth,
        revocation=core.revocation,
        client=client,
        settings=settings,
    )


@router.post("/revoke", status_code=status.HTTP_200_OK, tags=["oauth"])
async def revoke(
    token: Annotated[str, Form(max_length=4096)],
    sessions: SessionsDep,
    core: CoreDep,
    token_type_hint: Annotated[str | None, Form(max_length=50)] = None,
) -> Response:
    """OAuth 2.0 token revocation (RFC 7009); unknown tokens are answered 200 too."""
    await service.revoke_any(sessions, core, token, token_type_hint)
    return Response(status_code=200, headers=NO_STORE)


@router.get(
    "/verify",
    status_code=status.HTTP_200_OK,
    responses=problem_responses(*BEARER_ERRORS),
    tags=["gateway"],
)
async def verify(claims: CurrentClaims) -> Response:
    """Forward-auth for the gateway: 200 with the caller's identity headers, else 401."""
    return Response(
        status_code=200,
        headers={
            "X-Auth-User-Id": claims.sub,
            "X-Auth-Username": claims.preferred_username,
            "X-Auth-Roles": ",".join(claims.roles),
            "X-Auth-Session-Id": claims.sid,
            "Cache-Control": "no-store",
        },
    )
