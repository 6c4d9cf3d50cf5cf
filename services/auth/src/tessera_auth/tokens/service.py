"""The OAuth endpoints' rules: grants and revocation, in RFC 6749 / RFC 7009 terms."""

from __future__ import annotations

from tessera_auth.accounts import service as accounts
from tessera_auth.accounts.errors import InvalidCredentials, TooManyAttempts
from tessera_auth.accounts.repository import UserRepository
from tessera_auth.deps import AuthState
from tessera_auth.sessions import service as sessions_service
from tessera_auth.sessions.errors import InvalidRefreshToken, RefreshTokenReused
from tessera_auth.sessions.repository import SessionRepository
from tessera_auth.sessions.service import ClientInfo
from tessera_auth.tokens.errors import invalid_grant, unsupported_grant_type
from tessera_auth.tokens.issuer import hash_refresh_token
from tessera_auth.tokens.schemas import TokenPair
from tessera_core.errors import InvalidToken, OAuthError, ServiceUnavailable
from tessera_core.metrics import AUTH_TOKENS_REVOKED
from tessera_core.revocation import RevocationStore
from tessera_core.runtime import CoreState
from tessera_core.settings import Settings


async def token_endpoint(
    *,
    grant_type: str,
    username: str | None,
    password: str | None,
    refresh_token: str | None,
    users: UserRepository,
    sessions: SessionRepository,
    auth: AuthState,
    revocation: RevocationStore,
    client: ClientInfo,
    settings: Settings,
) -> TokenPair:
    try:
        if grant_type == "password":
            if not username or not password:
                raise OAuthError("invalid_request", "username and password are required")
            user = await accounts.authenticate(
                users,
                auth.hasher,
                auth.throttle,
                login=username,
                password=password,
                client=client.ip,
            )
            return await sessions_service.start(sessions, auth.issuer, settings, user, client)
        if grant_type == "refresh_token":
            if not refresh_token:
                raise OAuthError("invalid_request", "refresh_token is required")
            return await sessions_service.rotate(
                sessions, users, auth.issuer, revocation, settings, refresh_token
            )
    except (InvalidCredentials, InvalidRefreshToken, RefreshTokenReused) as exc:
        raise invalid_grant(exc.detail) from exc
    except TooManyAttempts as exc:
        raise OAuthError(
            "too_many_attempts",
            exc.detail,
            status=429,
            headers={"Retry-After": str(exc.retry_after)},
        ) from exc
    except ServiceUnavailable as exc:
        raise OAuthError(
            "temporarily_unavailable", exc.detail, status=503, headers=exc.headers
        ) from exc
    raise unsupported_grant_type(grant_type)


async def revoke_any(
    sessions: SessionRepository, core: CoreState, token: str, hint: str | None
) -> None:
    """Revoke a refresh token's session, or a single access token; ignore anything else."""
    try:
        await _revoke(sessions, core, token, hint)
    except ServiceUnavailable as exc:
        raise OAuthError(
            "temporarily_unavailable", exc.detail, status=503, headers=exc.headers
        ) from exc


async def _revoke(
    sessions: SessionRepository, core: CoreState, token: str, hint: str | None
) -> None:
    if hint != "access_token":
        found = await sessions.refresh_token_for_update(hash_refresh_token(token))
        if found is not None:
            _, login = found
            if await core.revocation.revoke_sessions(
                sessions.session, [login.id], reason="revoked"
            ):
                AUTH_TOKENS_REVOKED.inc()
            return
    if token.count(".") != 2:
        return
    try:
        claims = await core.verifier.verify_signed(token)
    except InvalidToken:
        return  # RFC 7009 §2.2: an invalid token is not an error
    await core.revocation.revoke_access_token(sessions.session, claims.iss, claims.jti, claims.exp)
    AUTH_TOKENS_REVOKED.inc()
