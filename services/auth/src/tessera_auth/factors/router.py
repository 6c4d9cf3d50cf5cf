"""An account's own second factors: ``/api/v1/auth/factors...`` (section "Second factors"
of docs/second-factors.md)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from tessera_auth.accounts.deps import AccountMailDep
from tessera_auth.accounts.errors import InvalidCurrentPassword
from tessera_auth.deps import ClientInfoDep
from tessera_auth.factors.deps import FactorsDep, PasskeysDep
from tessera_auth.factors.errors import (
    InvalidCode,
    InvalidPasskey,
    InvalidSecondFactor,
    NoPendingTotp,
    PasskeyNotFound,
    SecondFactorsUnavailable,
    TotpAlreadyEnabled,
    TotpNotEnabled,
)
from tessera_auth.factors.schemas import (
    CeremonyOptions,
    FactorStatus,
    PasskeyRead,
    PasskeyRegistration,
    PasskeyRename,
    PasswordProof,
    RecoveryCodes,
    StepUpProof,
    TotpCode,
    TotpEnrollment,
)
from tessera_auth.sessions.deps import ActingAdminClaims, RevokingActingAdminClaims
from tessera_auth.sessions.errors import UserNotFound
from tessera_core.accounts.step_up import InsufficientUserAuthentication
from tessera_core.accounts.throttle import ThrottleUnavailable, TooManyAttempts
from tessera_core.errors import ADMIN_ERRORS, BEARER_ERRORS, NO_STORE, problem_responses
from tessera_core.tokens.scopes import PROFILE_READ, PROFILE_WRITE, USERS_READ, USERS_WRITE
from tessera_core.web.deps import (
    CurrentClaims,
    RevocationsDep,
    RevokingClaims,
    StepUpGuardDep,
    UserRepositoryDep,
    requires,
)

__all__ = ["admin_router", "router"]

router = APIRouter(prefix="/api/v1/auth/factors", tags=["second factors"])
admin_router = APIRouter(prefix="/api/v1/auth/admin/users", tags=["second factors"])
CHECKED = (TooManyAttempts, ThrottleUnavailable, SecondFactorsUnavailable, *BEARER_ERRORS)
# What the password-and-code proof of a removal or a replacement may answer.
PROOF_ERRORS = (InvalidCurrentPassword, InvalidSecondFactor, TotpNotEnabled, *CHECKED)


@router.get(
    "",
    dependencies=[requires(PROFILE_READ)],
    response_model=FactorStatus,
    responses=problem_responses(*BEARER_ERRORS),
)
async def factor_status(claims: CurrentClaims, factors: FactorsDep) -> FactorStatus:
    """The caller's second factors: TOTP on, pending or off, and recovery codes left."""
    return await factors.status(uuid.UUID(claims.sub))


@router.post(
    "/totp",
    dependencies=[requires(PROFILE_WRITE)],
    response_model=TotpEnrollment,
    responses=problem_responses(InvalidCurrentPassword, TotpAlreadyEnabled, *CHECKED),
)
async def enroll_totp(
    data: PasswordProof,
    response: Response,
    claims: CurrentClaims,
    users: UserRepositoryDep,
    factors: FactorsDep,
    client: ClientInfoDep,
) -> TotpEnrollment:
    """Start TOTP behind the password: a secret, its ``otpauth://`` URI and a QR code. It
    counts once confirmed with a code (``POST /factors/totp/confirm``)."""
    response.headers.update(NO_STORE)
    user = await users.token_user_to_change(claims.sub)
    return await factors.enroll_totp(user, data.password, client.ip)


@router.post(
    "/totp/confirm",
    dependencies=[requires(PROFILE_WRITE)],
    response_model=RecoveryCodes,
    responses=problem_responses(InvalidCode, NoPendingTotp, *CHECKED),
)
async def confirm_totp(
    data: TotpCode,
    response: Response,
    claims: RevokingClaims,
    users: UserRepositoryDep,
    factors: FactorsDep,
    revocations: RevocationsDep,
    mail: AccountMailDep,
    client: ClientInfoDep,
) -> RecoveryCodes:
    """Turn TOTP on with a first code; answers the ten recovery codes, shown this once.
    The account's other sessions end and its address is told."""
    response.headers.update(NO_STORE)
    user = await users.token_user_to_change(claims.sub)
    codes = await factors.confirm_totp(
        user, data.code, client.ip, revocations, mail, uuid.UUID(claims.sid)
    )
    return RecoveryCodes(recovery_codes=codes)


@router.post(
    "/totp/remove",
    dependencies=[requires(PROFILE_WRITE)],
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(*PROOF_ERRORS),
)
async def remove_totp(
    data: StepUpProof,
    claims: RevokingClaims,
    users: UserRepositoryDep,
    factors: FactorsDep,
    revocations: RevocationsDep,
    mail: AccountMailDep,
    client: ClientInfoDep,
) -> None:
    """Turn TOTP off behind the password and a code (TOTP or recovery); the recovery codes
    go too, the other sessions end and the address is told."""
    user = await users.token_user_to_change(claims.sub)
    await factors.remove_totp(user, data, client.ip, revocations, mail, uuid.UUID(claims.sid))


@router.post(
    "/recovery-codes",
    dependencies=[requires(PROFILE_WRITE)],
    response_model=RecoveryCodes,
    responses=problem_responses(*PROOF_ERRORS),
)
async def replace_recovery_codes(
    data: StepUpProof,
    response: Response,
    claims: CurrentClaims,
    users: UserRepositoryDep,
    factors: FactorsDep,
    mail: AccountMailDep,
    client: ClientInfoDep,
) -> RecoveryCodes:
    """Ten new recovery codes behind the password and a code; the old ones stop working."""
    response.headers.update(NO_STORE)
    user = await users.token_user_to_change(claims.sub)
    codes = await factors.replace_recovery_codes(user, data, client.ip, mail)
    return RecoveryCodes(recovery_codes=codes)


@router.post(
    "/passkeys/options",
    dependencies=[requires(PROFILE_WRITE)],
    response_model=CeremonyOptions,
    responses=problem_responses(InvalidCurrentPassword, *CHECKED),
)
async def passkey_registration_options(
    data: PasswordProof,
    response: Response,
    claims: CurrentClaims,
    users: UserRepositoryDep,
    factors: FactorsDep,
    passkeys: PasskeysDep,
    client: ClientInfoDep,
) -> CeremonyOptions:
    """Options for `navigator.credentials.create()`, behind the password: a discoverable
    credential that verifies its user, not one the account has already."""
    response.headers.update(NO_STORE)
    user = await users.token_user_to_change(claims.sub)
    await factors.prove_password(user, data.password, client.ip)
    ceremony, public_key = await passkeys.registration_options(user)
    return CeremonyOptions(ceremony=ceremony, public_key=public_key)


@router.post(
    "/passkeys",
    dependencies=[requires(PROFILE_WRITE)],
    response_model=PasskeyRead,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(InvalidPasskey, *CHECKED),
)
async def register_passkey(
    data: PasskeyRegistration,
    claims: RevokingClaims,
    users: UserRepositoryDep,
    passkeys: PasskeysDep,
    revocations: RevocationsDep,
    mail: AccountMailDep,
) -> PasskeyRead:
    """Keep the passkey the authenticator made (`PublicKeyCredential.toJSON()`) under
    `name`. The account's other sessions end and its address is told."""
    user = await users.token_user_to_change(claims.sub)
    passkey = await passkeys.register(
        user, data.ceremony, data.credential, data.name, revocations, mail, uuid.UUID(claims.sid)
    )
    return PasskeyRead.model_validate(passkey)


@router.get(
    "/passkeys",
    dependencies=[requires(PROFILE_READ)],
    response_model=list[PasskeyRead],
    responses=problem_responses(*BEARER_ERRORS),
)
async def list_passkeys(claims: CurrentClaims, passkeys: PasskeysDep) -> list[PasskeyRead]:
    """The caller's passkeys, oldest first."""
    return [PasskeyRead.model_validate(p) for p in await passkeys.listed(uuid.UUID(claims.sub))]


@router.patch(
    "/passkeys/{passkey_id}",
    dependencies=[requires(PROFILE_WRITE)],
    response_model=PasskeyRead,
    responses=problem_responses(PasskeyNotFound, *BEARER_ERRORS),
)
async def rename_passkey(
    passkey_id: uuid.UUID, data: PasskeyRename, claims: CurrentClaims, passkeys: PasskeysDep
) -> PasskeyRead:
    """Rename one of the caller's passkeys."""
    passkey = await passkeys.rename(uuid.UUID(claims.sub), passkey_id, data.name)
    return PasskeyRead.model_validate(passkey)


@router.delete(
    "/passkeys/{passkey_id}",
    dependencies=[requires(PROFILE_WRITE)],
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(PasskeyNotFound, InsufficientUserAuthentication, *BEARER_ERRORS),
)
async def remove_passkey(
    passkey_id: uuid.UUID,
    claims: RevokingClaims,
    step_up: StepUpGuardDep,
    users: UserRepositoryDep,
    passkeys: PasskeysDep,
    revocations: RevocationsDep,
    mail: AccountMailDep,
) -> None:
    """Remove one of the caller's passkeys, after step-up (a recent login with a second
    factor); the other sessions end and the address is told."""
    await step_up.require()
    user = await users.token_user_to_change(claims.sub)
    await passkeys.remove(user, passkey_id, revocations, mail, uuid.UUID(claims.sid))


@admin_router.get(
    "/{user_id}/factors",
    dependencies=[requires(USERS_READ)],
    response_model=FactorStatus,
    responses=problem_responses(UserNotFound, *ADMIN_ERRORS),
)
async def admin_factor_status(
    user_id: uuid.UUID,
    admin: ActingAdminClaims,
    users: UserRepositoryDep,
    factors: FactorsDep,
) -> FactorStatus:
    """A user's second factors, for an administrator: TOTP, recovery codes left, passkeys."""
    if await users.get(user_id) is None:
        raise UserNotFound("No user has this id.")
    return await factors.status(user_id)


@admin_router.delete(
    "/{user_id}/factors",
    dependencies=[requires(USERS_WRITE)],
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(
        UserNotFound, TotpNotEnabled, InsufficientUserAuthentication, *ADMIN_ERRORS
    ),
)
async def admin_remove_factors(
    user_id: uuid.UUID,
    admin: RevokingActingAdminClaims,
    step_up: StepUpGuardDep,
    users: UserRepositoryDep,
    factors: FactorsDep,
    revocations: RevocationsDep,
    mail: AccountMailDep,
) -> None:
    """Turn a user's second factors off, for an administrator with a recent login (and a
    second factor of their own where they have one): the user's sessions end and their
    address is told."""
    await step_up.require()
    user = await users.get(user_id)
    if user is None:
        raise UserNotFound("No user has this id.")
    await factors.remove_for_admin(user, admin.sub, revocations, mail)
