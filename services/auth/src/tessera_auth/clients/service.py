"""Service accounts: non-human principals an administrator creates, with scopes and no
password (docs/service-accounts.md). Each is a ``user`` row marked ``is_service`` plus its
``service_account`` row, so the user's revocation (deactivation, ``tokens_not_before``)
covers its tokens; each secret owns a login session, so deleting one revokes exactly the
tokens issued with it. The client credentials grant (RFC 6749 §4.4) is ``issue``; with a
registered key instead of a secret (``private_key_jwt``), ``tessera_auth.clients.keys``."""

from __future__ import annotations

import base64
import binascii
import secrets as random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

from tessera_auth.client import ClientInfo
from tessera_auth.clients.errors import (
    InvalidServiceScope,
    SecretLimitReached,
    ServiceAccountNotFound,
    ServiceSecretNotFound,
)
from tessera_auth.clients.repository import (
    ClientRow,
    ServiceAccountRepository,
    ServiceAccountView,
)
from tessera_auth.sessions.repository import LoginSessionRepository
from tessera_auth.tokens.issuer import AccessTokenIssuer, TokenSubject
from tessera_core.accounts.audit import audit_after_commit
from tessera_core.accounts.passwords import PasswordHasher
from tessera_core.accounts.repository import UserRepository
from tessera_core.db.models import LoginSession, ServiceAccount, ServiceAccountSecret, User
from tessera_core.errors import OAuthError
from tessera_core.ops.metrics import AUTH_TOKENS_ISSUED
from tessera_core.revocation import Revocations
from tessera_core.tokens import AccessClaims
from tessera_core.tokens.pat import (
    hash_personal_token,
    new_prefixed_token,
    well_formed_prefixed_token,
)
from tessera_core.tokens.scopes import (
    SERVICE_SCOPES,
    delegated,
    format_scope,
    narrowed,
    parse_scope,
)

__all__ = [
    "CLIENT_SECRET_AMR",
    "MAX_LIVE_SECRETS",
    "SECRET_PREFIX",
    "IssuedToken",
    "NewSecret",
    "NewServiceAccount",
    "basic_credentials",
    "create",
    "create_secret",
    "credential_session",
    "deactivate",
    "delete_secret",
    "get",
    "invalid_client",
    "issue",
    "list_all",
    "mint",
]

SECRET_PREFIX = "tsr_sas_"
# Rotation with overlap: a new secret is deployed while the old one still works, then the
# old one is deleted. A third is refused (409) rather than expiring the oldest, which might
# be the one still deployed.
MAX_LIVE_SECRETS = 2
# What a service account may hold: the rows that read or change other accounts. Every row a
# person uses on their own account needs ``profile:*`` or ``sessions:write``, so ``requires``
# refuses a service token there (403 ``insufficient_scope``): the one check that keeps
# service tokens off the human-only rows (password, factors, personal tokens, /users/me).
# RFC 8176 names no value for a client's own credentials; this one says how the token's
# session was proved (``login_session.amr`` holds up to 16 characters).
CLIENT_SECRET_AMR = ("client_secret",)
# A secret does not expire (it is deleted), but its session needs an end.
SECRET_SESSION_LIFETIME = timedelta(days=3650)


def invalid_client(description: str = "Client authentication failed.") -> OAuthError:
    """RFC 6749 §5.2: a failed client authentication by ``Authorization: Basic`` is 401 with
    the scheme the client should use."""
    return OAuthError(
        "invalid_client",
        description,
        status=401,
        headers={"WWW-Authenticate": 'Basic realm="tessera"'},
    )


def basic_credentials(authorization: str) -> tuple[str, str]:
    """``client_id`` and secret of an RFC 6749 §2.3.1 ``Authorization: Basic`` header (each
    form-urlencoded before base64); ``invalid_client`` if it is not one."""
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        raise invalid_client("Authenticate the client with HTTP Basic.")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise invalid_client("Malformed Basic credentials.") from exc
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        raise invalid_client("Malformed Basic credentials.")
    return unquote(client_id.replace("+", " ")), unquote(secret.replace("+", " "))


@dataclass(frozen=True)
class NewSecret:
    row: ServiceAccountSecret
    secret: str


@dataclass(frozen=True)
class NewServiceAccount:
    view: ServiceAccountView
    secret: NewSecret


async def create(
    users: UserRepository,
    accounts: ServiceAccountRepository,
    sessions: LoginSessionRepository,
    hasher: PasswordHasher,
    admin: AccessClaims,
    client: ClientInfo,
    *,
    name: str,
    scope: str,
) -> NewServiceAccount:
    """A new service account and its first secret. Its ``user`` row is an admin row (the
    rows its scopes open check the acting row's ``is_admin``) with the hash of a random
    password nobody knows: a password login with it fails as a wrong password does, in the
    same time (``accounts.service.authenticate`` refuses ``is_service`` rows too)."""
    try:
        scopes = delegated(scope, admin.scopes, to="a service account", within=SERVICE_SCOPES)
    except ValueError as exc:
        raise InvalidServiceScope(f"{exc}.") from exc
    client_id = "sa-" + random.token_hex(12)
    user = await users.add(
        User(
            username=client_id,
            email=f"{client_id}@service-account.invalid",
            password_hash=await hasher.hash(random.token_urlsafe(32)),
            is_admin=True,
            is_service=True,
        )
    )
    account = await accounts.add(
        ServiceAccount(
            user_id=user.id,
            client_id=client_id,
            name=name,
            scope=format_scope(scopes),
            created_by=uuid.UUID(admin.sub),
        )
    )
    secret = await _add_secret(accounts, sessions, account, client)
    audit_after_commit(
        accounts.session,
        "service_account_created",
        actor_id=admin.sub,
        service_account_id=str(user.id),
        client_id=client_id,
        scope=account.scope,
    )
    audit_after_commit(
        accounts.session,
        "service_secret_created",
        actor_id=admin.sub,
        service_account_id=str(user.id),
        credential_id=str(secret.row.id),
    )
    return NewServiceAccount(await accounts.view(account), secret)


async def _existing(accounts: ServiceAccountRepository, account_id: uuid.UUID) -> ServiceAccount:
    account = await accounts.get(account_id)
    if account is None:
        raise ServiceAccountNotFound("No service account has this id.")
    return account


async def get(accounts: ServiceAccountRepository, account_id: uuid.UUID) -> ServiceAccountView:
    return await accounts.view(await _existing(accounts, account_id))


async def list_all(accounts: ServiceAccountRepository) -> Sequence[ServiceAccountView]:
    return [await accounts.view(account) for account in await accounts.all()]


async def _add_secret(
    accounts: ServiceAccountRepository,
    sessions: LoginSessionRepository,
    account: ServiceAccount,
    client: ClientInfo,
) -> NewSecret:
    login = await credential_session(sessions, account, client, CLIENT_SECRET_AMR)
    secret = new_prefixed_token(SECRET_PREFIX)
    row = await accounts.add_secret(account, login.id, hash_personal_token(secret))
    AUTH_TOKENS_ISSUED.labels(kind="client_secret").inc()
    return NewSecret(row, secret)


async def create_secret(
    accounts: ServiceAccountRepository,
    sessions: LoginSessionRepository,
    admin: AccessClaims,
    client: ClientInfo,
    account_id: uuid.UUID,
) -> NewSecret:
    """A second secret, for rotation; 409 while two are live."""
    account = await accounts.lock(account_id)
    if account is None:
        raise ServiceAccountNotFound("No service account has this id.")
    if await accounts.count_live_secrets(account) >= MAX_LIVE_SECRETS:
        raise SecretLimitReached(
            f"A service account has at most {MAX_LIVE_SECRETS} live secrets: delete the one "
            "you rotate away from first."
        )
    secret = await _add_secret(accounts, sessions, account, client)
    audit_after_commit(
        accounts.session,
        "service_secret_created",
        actor_id=admin.sub,
        service_account_id=str(account_id),
        credential_id=str(secret.row.id),
    )
    return secret


async def delete_secret(
    accounts: ServiceAccountRepository,
    revocations: Revocations,
    admin: AccessClaims,
    account_id: uuid.UUID,
    secret_id: uuid.UUID,
) -> None:
    """Delete one secret: it stops authenticating, and every token issued with it is
    revoked at once (its session); the other secret and its tokens are untouched."""
    account = await _existing(accounts, account_id)
    row = await accounts.secret(account, secret_id)
    if row is None:
        raise ServiceSecretNotFound("This service account has no secret with this id.")
    await revocations.revoke_session(row.session_id, reason="service_secret_deleted")
    await accounts.delete_secret(row)
    audit_after_commit(
        accounts.session,
        "service_secret_deleted",
        actor_id=admin.sub,
        service_account_id=str(account_id),
        credential_id=str(secret_id),
    )


async def deactivate(
    users: UserRepository,
    accounts: ServiceAccountRepository,
    revocations: Revocations,
    admin: AccessClaims,
    account_id: uuid.UUID,
) -> None:
    """Deactivate a service account: its secrets stop authenticating and every token it
    holds is refused at once, by the user revocation every account has. Idempotent."""
    account = await _existing(accounts, account_id)
    user = await users.get(account.user_id)
    if user is None or not user.is_active:
        return
    user.is_active = False
    await revocations.revoke_user(user.id, reason="service_account_deactivated")
    audit_after_commit(
        accounts.session,
        "service_account_deactivated",
        actor_id=admin.sub,
        service_account_id=str(account_id),
    )


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int
    scope: str


async def issue(
    accounts: ServiceAccountRepository,
    issuer: AccessTokenIssuer,
    *,
    client_id: str,
    secret: str,
    scope: str | None,
) -> IssuedToken:
    """RFC 6749 §4.4: a client authenticated by its secret gets an access token of the
    secret's session (``sid``), its scopes narrowed by ``scope``, no ``auth_time`` (step-up
    refuses it) and no refresh token (§4.4.3)."""
    client = None
    if well_formed_prefixed_token(secret, SECRET_PREFIX):
        client = await accounts.find_client(client_id, hash_personal_token(secret))
    if client is None:
        raise invalid_client()
    return mint(issuer, client, scope, CLIENT_SECRET_AMR)


def mint(
    issuer: AccessTokenIssuer, client: ClientRow, scope: str | None, amr: tuple[str, ...]
) -> IssuedToken:
    """The access token of an authenticated client: its credential's session, its scopes
    narrowed by ``scope``."""
    scopes = narrowed(scope, parse_scope(client.scope))
    if not scopes:
        raise OAuthError("invalid_scope", "The requested scope exceeds the service account's.")
    subject = TokenSubject(
        user_id=client.user_id,
        username=client.username,
        is_admin=client.is_admin,
        is_service=True,
        email_verified=client.email_verified,
        session_id=client.session_id,
        client_id=client.client_id,
        session_started=None,
        amr=amr,
        scope=format_scope(scopes),
    )
    token = issuer.issue(subject, datetime.now(UTC))
    AUTH_TOKENS_ISSUED.labels(kind="access").inc()
    return IssuedToken(
        token, issuer.settings.access_token_ttl_seconds, format_scope(subject.scopes)
    )


async def credential_session(
    sessions: LoginSessionRepository,
    account: ServiceAccount,
    client: ClientInfo,
    amr: tuple[str, ...],
) -> LoginSession:
    """The login session a credential (a secret, a key registration) owns: every token it
    gets carries its ``sid``, so revoking the session revokes exactly those tokens."""
    return await sessions.create(
        user_id=account.user_id,
        client_id=account.client_id,
        expires_at=datetime.now(UTC) + SECRET_SESSION_LIFETIME,
        user_agent=client.user_agent,
        ip=client.ip,
        amr=amr,
        scope=account.scope,
    )
