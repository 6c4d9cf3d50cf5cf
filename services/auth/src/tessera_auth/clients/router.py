"""Service accounts, for administrators: create (the first secret shown once), list, read,
deactivate; add and delete secrets (docs/service-accounts.md)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from tessera_auth.clients import keys, service
from tessera_auth.clients.deps import ServiceAccountRepositoryDep
from tessera_auth.clients.errors import (
    InvalidJwks,
    InvalidJwksUri,
    InvalidServiceScope,
    JwksUriUnreachable,
    SecretLimitReached,
    ServiceAccountNotFound,
    ServiceSecretNotFound,
)
from tessera_auth.clients.repository import ServiceAccountView
from tessera_auth.clients.schemas import (
    SecretCreated,
    SecretRead,
    ServiceAccountCreate,
    ServiceAccountCreated,
    ServiceAccountKeys,
    ServiceAccountRead,
)
from tessera_auth.deps import AuthStateDep, ClientInfoDep
from tessera_auth.sessions.deps import (
    ActingAdminClaims,
    LoginSessionRepositoryDep,
    RevokingActingAdminClaims,
)
from tessera_core.errors import ADMIN_ERRORS, NO_STORE, problem_responses
from tessera_core.tokens.scopes import USERS_READ, USERS_WRITE
from tessera_core.web.deps import RevocationsDep, SettingsDep, UserRepositoryDep, requires

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/auth/admin/service-accounts", tags=["service accounts"])


def read(view: ServiceAccountView) -> ServiceAccountRead:
    account = view.account
    return ServiceAccountRead(
        id=account.user_id,
        client_id=account.client_id,
        name=account.name,
        scope=account.scope,
        is_active=view.is_active,
        created_at=account.created_at,
        created_by=account.created_by,
        secrets=[SecretRead.model_validate(s) for s in view.secrets],
        jwks=account.jwks,
        jwks_uri=account.jwks_uri,
        keys_registered=account.jwks is not None or account.jwks_uri is not None,
    )


def created_secret(secret: service.NewSecret) -> SecretCreated:
    return SecretCreated(id=secret.row.id, created_at=secret.row.created_at, secret=secret.secret)


@router.post(
    "",
    dependencies=[requires(USERS_WRITE)],
    response_model=ServiceAccountCreated,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(InvalidServiceScope, *ADMIN_ERRORS),
)
async def create_service_account(
    data: ServiceAccountCreate,
    response: Response,
    admin: ActingAdminClaims,
    users: UserRepositoryDep,
    accounts: ServiceAccountRepositoryDep,
    sessions: LoginSessionRepositoryDep,
    auth: AuthStateDep,
    client: ClientInfoDep,
) -> ServiceAccountCreated:
    """Create a service account: its `client_id`, and its first `secret` in this answer only."""
    response.headers.update(NO_STORE)
    created = await service.create(
        users, accounts, sessions, auth.hasher, admin, client, name=data.name, scope=data.scope
    )
    return ServiceAccountCreated(
        **read(created.view).model_dump(), secret=created_secret(created.secret)
    )


@router.get(
    "",
    dependencies=[requires(USERS_READ)],
    response_model=list[ServiceAccountRead],
    responses=problem_responses(*ADMIN_ERRORS),
)
async def list_service_accounts(
    admin: ActingAdminClaims, accounts: ServiceAccountRepositoryDep
) -> list[ServiceAccountRead]:
    """Every service account (deactivated ones too), newest first; no secrets."""
    return [read(view) for view in await service.list_all(accounts)]


@router.get(
    "/{account_id}",
    dependencies=[requires(USERS_READ)],
    response_model=ServiceAccountRead,
    responses=problem_responses(ServiceAccountNotFound, *ADMIN_ERRORS),
)
async def get_service_account(
    account_id: uuid.UUID, admin: ActingAdminClaims, accounts: ServiceAccountRepositoryDep
) -> ServiceAccountRead:
    """One service account and its live secrets (no values)."""
    return read(await service.get(accounts, account_id))


@router.delete(
    "/{account_id}",
    dependencies=[requires(USERS_WRITE)],
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(ServiceAccountNotFound, *ADMIN_ERRORS),
)
async def deactivate_service_account(
    account_id: uuid.UUID,
    admin: RevokingActingAdminClaims,
    users: UserRepositoryDep,
    accounts: ServiceAccountRepositoryDep,
    revocations: RevocationsDep,
) -> None:
    """Deactivate a service account: its secrets and every token it holds stop at once."""
    await service.deactivate(users, accounts, revocations, admin, account_id)


@router.post(
    "/{account_id}/secrets",
    dependencies=[requires(USERS_WRITE)],
    response_model=SecretCreated,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(ServiceAccountNotFound, SecretLimitReached, *ADMIN_ERRORS),
)
async def create_service_secret(
    account_id: uuid.UUID,
    response: Response,
    admin: ActingAdminClaims,
    accounts: ServiceAccountRepositoryDep,
    sessions: LoginSessionRepositoryDep,
    client: ClientInfoDep,
) -> SecretCreated:
    """Add a secret (rotation): shown in this answer only; 409 while two are live."""
    response.headers.update(NO_STORE)
    secret = await service.create_secret(accounts, sessions, admin, client, account_id)
    return created_secret(secret)


@router.delete(
    "/{account_id}/secrets/{secret_id}",
    dependencies=[requires(USERS_WRITE)],
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(ServiceAccountNotFound, ServiceSecretNotFound, *ADMIN_ERRORS),
)
async def delete_service_secret(
    account_id: uuid.UUID,
    secret_id: uuid.UUID,
    admin: RevokingActingAdminClaims,
    accounts: ServiceAccountRepositoryDep,
    revocations: RevocationsDep,
) -> None:
    """Delete a secret: it stops working, and the tokens issued with it are revoked."""
    await service.delete_secret(accounts, revocations, admin, account_id, secret_id)


@router.put(
    "/{account_id}/keys",
    dependencies=[requires(USERS_WRITE)],
    response_model=ServiceAccountRead,
    responses=problem_responses(
        ServiceAccountNotFound, InvalidJwks, InvalidJwksUri, JwksUriUnreachable, *ADMIN_ERRORS
    ),
)
async def set_service_keys(
    account_id: uuid.UUID,
    data: ServiceAccountKeys,
    admin: RevokingActingAdminClaims,
    accounts: ServiceAccountRepositoryDep,
    sessions: LoginSessionRepositoryDep,
    revocations: RevocationsDep,
    client: ClientInfoDep,
    auth: AuthStateDep,
    settings: SettingsDep,
) -> ServiceAccountRead:
    """Register the public keys for `private_key_jwt`: a JWK set (`jwks`) or the https URL
    that serves one (`jwks_uri`, fetched now to check it), replacing whichever was there
    (the tokens the old keys obtained are revoked)."""
    view = await keys.set_keys(
        accounts,
        sessions,
        revocations,
        admin,
        client,
        account_id,
        jwks=data.jwks,
        jwks_uri=data.jwks_uri,
        key_sets=auth.client_key_sets,
        settings=settings,
    )
    return read(view)
