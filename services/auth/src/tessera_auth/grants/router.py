"""``/login`` and ``/refresh`` (problem+json), and the OAuth endpoints ``/token`` and
``/revoke`` (RFC 6749 error bodies): one set of grants behind all of them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Header, Response, status

from tessera_auth.accounts.deps import AccountMailDep
from tessera_auth.accounts.errors import EmailNotVerified, InvalidCredentials
from tessera_auth.clients import keys as clients_keys
from tessera_auth.clients import service as clients_service
from tessera_auth.clients.assertion import CLIENT_ASSERTION_TYPE
from tessera_auth.clients.deps import ServiceAccountRepositoryDep
from tessera_auth.clients.schemas import ClientCredentialsResponse
from tessera_auth.deps import AuthStateDep, ClientInfoDep
from tessera_auth.factors.errors import (
    InvalidChallenge,
    InvalidPasskey,
    InvalidSecondFactor,
    SecondFactorRequired,
    SecondFactorsUnavailable,
)
from tessera_auth.factors.schemas import (
    CeremonyOptions,
    PasskeyAnswer,
    PasskeyLoginOptionsRequest,
    SecondFactorAnswer,
)
from tessera_auth.grants.deps import RefreshGrantDep, TokenGrantsDep
from tessera_auth.grants.schemas import MFA_REQUIRED, SECOND_FACTOR_REQUIRED, LoginRequest
from tessera_auth.pats import service as pats_service
from tessera_auth.pats.deps import PersonalTokenRepositoryDep
from tessera_auth.pats.service import ACCESS_TOKEN_TYPE_URN, TOKEN_EXCHANGE
from tessera_auth.sessions.errors import InvalidRefreshToken, RefreshTokenReused
from tessera_auth.sessions.schemas import RefreshRequest
from tessera_auth.tokens.schemas import ExchangeTokenResponse, OAuthTokenResponse, TokenPair
from tessera_core.accounts.throttle import TooManyAttempts
from tessera_core.errors import (
    NO_STORE,
    OAuthError,
    RevocationUnavailable,
    ServiceUnavailable,
    problem_responses,
)
from tessera_core.schemas import Text
from tessera_core.tokens.pat import is_personal_token
from tessera_core.web.deps import CoreStateDep, RevocationsDep, UserRepositoryDep
from tessera_core.web.errors import OAuthRoute
from tessera_core.web.routing import LeanRoute

__all__ = ["oauth_router", "refresh_router", "router"]

router = APIRouter(prefix="/api/v1/auth", tags=["tokens"])
# Every client refreshes once per access-token lifetime: the busiest write.
refresh_router = APIRouter(prefix="/api/v1/auth", tags=["tokens"], route_class=LeanRoute)
oauth_router = APIRouter(prefix="/api/v1/auth", tags=["oauth"], route_class=OAuthRoute)


@router.post(
    "/login",
    response_model=TokenPair,
    responses={
        **problem_responses(
            InvalidCredentials,
            EmailNotVerified,
            SecondFactorRequired,
            TooManyAttempts,
            ServiceUnavailable,
        ),
        403: SECOND_FACTOR_REQUIRED,
    },
)
async def login(
    data: LoginRequest, response: Response, grants: TokenGrantsDep, client: ClientInfoDep
) -> TokenPair:
    """Exchange a username (or email) and password for a token pair. An account with a
    second factor answers 403 `second_factor_required` with a `challenge` instead: send
    it with a code to `POST /api/v1/auth/login/second-factor`."""
    response.headers.update(NO_STORE)
    return await grants.password(login=data.username, password=data.password, client=client)


@router.post(
    "/login/second-factor",
    response_model=TokenPair,
    responses=problem_responses(
        InvalidChallenge,
        InvalidSecondFactor,
        InvalidPasskey,
        TooManyAttempts,
        SecondFactorsUnavailable,
        ServiceUnavailable,
    ),
)
async def login_second_factor(
    data: SecondFactorAnswer, response: Response, grants: TokenGrantsDep, client: ClientInfoDep
) -> TokenPair:
    """The second step of a login: the challenge from `/login` and a TOTP `code` or a
    `recovery_code`. A challenge lives a few minutes, takes a few answers, and logs in once."""
    response.headers.update(NO_STORE)
    return await grants.second_factor(
        challenge=data.challenge,
        code=data.code,
        recovery_code=data.recovery_code,
        passkey=data.passkey,
        client=client,
    )


@router.post(
    "/login/passkey/options",
    response_model=CeremonyOptions,
    responses=problem_responses(InvalidChallenge, ServiceUnavailable),
)
async def passkey_login_options(
    data: PasskeyLoginOptionsRequest, response: Response, grants: TokenGrantsDep
) -> CeremonyOptions:
    """Options for `navigator.credentials.get()`: empty body to sign in with a passkey
    alone (no username: the passkey names its account), or a password login's `challenge`
    for its second step (then answered at `/login/second-factor` with `passkey`)."""
    response.headers.update(NO_STORE)
    ceremony, public_key = await grants.passkey_options(data.challenge)
    return CeremonyOptions(ceremony=ceremony, public_key=public_key)


@router.post(
    "/login/passkey",
    response_model=TokenPair,
    responses=problem_responses(InvalidPasskey, EmailNotVerified, ServiceUnavailable),
)
async def passkey_login(
    data: PasskeyAnswer, response: Response, grants: TokenGrantsDep, client: ClientInfoDep
) -> TokenPair:
    """Sign in with a passkey alone: the ceremony from `/login/passkey/options` and the
    authenticator's response (`PublicKeyCredential.toJSON()`); it must verify its user."""
    response.headers.update(NO_STORE)
    return await grants.passkey(data.ceremony, data.credential, client)


@refresh_router.post(
    "/refresh",
    response_model=TokenPair,
    responses=problem_responses(InvalidRefreshToken, RefreshTokenReused, RevocationUnavailable),
)
async def refresh(data: RefreshRequest, response: Response, grant: RefreshGrantDep) -> TokenPair:
    """Spend a refresh token for a new pair."""
    response.headers.update(NO_STORE)
    return await grant.refresh(data.refresh_token)


@oauth_router.post(
    "/token",
    response_model=OAuthTokenResponse | ExchangeTokenResponse | ClientCredentialsResponse,
    responses={403: MFA_REQUIRED},
)
async def token(
    grant_type: Annotated[Text, Form(max_length=100)],
    response: Response,
    grants: TokenGrantsDep,
    client: ClientInfoDep,
    accounts: ServiceAccountRepositoryDep,
    auth: AuthStateDep,
    core: CoreStateDep,
    username: Annotated[Text | None, Form(max_length=254)] = None,
    password: Annotated[Text | None, Form(max_length=1024)] = None,
    refresh_token: Annotated[Text | None, Form()] = None,
    scope: Annotated[Text | None, Form(max_length=1024)] = None,
    client_id: Annotated[Text | None, Form(max_length=100)] = None,
    subject_token: Annotated[Text | None, Form(max_length=1024)] = None,
    subject_token_type: Annotated[Text | None, Form(max_length=100)] = None,
    requested_token_type: Annotated[Text | None, Form(max_length=100)] = None,
    client_assertion_type: Annotated[Text | None, Form(max_length=100)] = None,
    client_assertion: Annotated[Text | None, Form(max_length=8192)] = None,
    authorization: Annotated[str | None, Header(max_length=2048)] = None,
) -> OAuthTokenResponse | ExchangeTokenResponse | ClientCredentialsResponse:
    """OAuth 2.0 token endpoint (RFC 6749 §4.3 password and §6 refresh_token grants, RFC
    8693 token exchange). A password grant's `scope` narrows the session to those scopes (a
    subset of what the account may hold, else `invalid_scope`), also across a second factor;
    a refresh grant's narrows that one access token within the session's. The answer's
    `scope` says what the access token grants.
    `grant_type=urn:ietf:params:oauth:grant-type:token-exchange` with a personal access
    token as `subject_token` (`subject_token_type`
    `urn:ietf:params:oauth:token-type:access_token`) answers a short access token of the
    same session and scope (or the narrower `scope` asked), no refresh token.
    `grant_type=client_credentials` (RFC 6749 §4.4) authenticates a service account by
    `Authorization: Basic` (`client_secret_basic`) or a `client_assertion` signed by a
    registered key (`private_key_jwt`, RFC 7523) and answers an access token of its
    scopes (or the narrower `scope` asked), no refresh token; a failed client
    authentication is 401 `invalid_client`."""
    response.headers.update(NO_STORE)
    if grant_type == "client_credentials" and client_assertion is not None:
        if client_assertion_type != CLIENT_ASSERTION_TYPE:
            raise OAuthError(
                "invalid_request", f"client_assertion_type must be {CLIENT_ASSERTION_TYPE}"
            )
        if authorization is not None:
            raise OAuthError("invalid_request", "use one client authentication method, not two")
        issued = await clients_keys.issue_for_assertion(
            accounts,
            auth.issuer,
            core.redis,
            auth.client_key_sets,
            assertion=client_assertion,
            client_id=client_id,
            scope=scope,
        )
        return ClientCredentialsResponse(
            access_token=issued.access_token, expires_in=issued.expires_in, scope=issued.scope
        )
    if grant_type == "client_credentials":
        if authorization is None:
            raise clients_service.invalid_client("Authenticate the client with HTTP Basic.")
        basic_id, secret = clients_service.basic_credentials(authorization)
        issued = await clients_service.issue(
            accounts, auth.issuer, client_id=basic_id, secret=secret, scope=scope
        )
        return ClientCredentialsResponse(
            access_token=issued.access_token, expires_in=issued.expires_in, scope=issued.scope
        )
    if grant_type == "password":
        if not username or not password:
            raise OAuthError("invalid_request", "username and password are required")
        pair = await grants.password(login=username, password=password, client=client, scope=scope)
        return OAuthTokenResponse.of(pair)
    if grant_type == "refresh_token":
        if not refresh_token:
            raise OAuthError("invalid_request", "refresh_token is required")
        return OAuthTokenResponse.of(await grants.refresh(refresh_token, scope))
    if grant_type == TOKEN_EXCHANGE:
        if not subject_token or not subject_token_type:
            raise OAuthError("invalid_request", "subject_token and subject_token_type are required")
        exchanged = await grants.exchange(
            subject_token=subject_token,
            subject_token_type=subject_token_type,
            requested_token_type=requested_token_type,
            scope=scope,
        )
        return ExchangeTokenResponse(
            access_token=exchanged.access_token,
            issued_token_type=ACCESS_TOKEN_TYPE_URN,
            expires_in=exchanged.expires_in,
            scope=exchanged.scope,
        )
    raise OAuthError(
        "unsupported_grant_type", f"grant_type {grant_type!r} is not supported by this server"
    )


@oauth_router.post(
    "/revoke",
    status_code=status.HTTP_200_OK,
    response_class=Response,
    responses={200: {"description": "Revoked, or not a token this server knows: no body"}},
)
async def revoke(
    token: Annotated[Text, Form()],
    grants: TokenGrantsDep,
    personal_tokens: PersonalTokenRepositoryDep,
    users: UserRepositoryDep,
    revocations: RevocationsDep,
    mail: AccountMailDep,
    token_type_hint: Annotated[Text | None, Form(max_length=50)] = None,
) -> Response:
    """OAuth 2.0 token revocation (RFC 7009); unknown tokens are answered 200 too. A
    personal access token is revoked by whoever presents it (its owner is mailed)."""
    if is_personal_token(token):
        await pats_service.revoke_presented(personal_tokens, users, revocations, mail, token)
    else:
        await grants.revoke(token)
    return Response(status_code=200, headers=NO_STORE)
