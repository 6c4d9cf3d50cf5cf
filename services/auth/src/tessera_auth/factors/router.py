"""An account's own second factors: ``/api/v1/auth/factors...`` (section "Second factors"
of docs/second-factors.md)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response, status

from tessera_auth.accounts.deps import AccountMailDep
from tessera_auth.accounts.errors import InvalidCurrentPassword
from tessera_auth.deps import ClientInfoDep
from tessera_auth.factors.deps import FactorsDep
from tessera_auth.factors.errors import (
    InvalidCode,
    InvalidSecondFactor,
    NoPendingTotp,
    SecondFactorsUnavailable,
    TotpAlreadyEnabled,
    TotpNotEnabled,
)
from tessera_auth.factors.schemas import (
    FactorStatus,
    PasswordProof,
    RecoveryCodes,
    StepUpProof,
    TotpCode,
    TotpEnrollment,
)
from tessera_core.accounts.throttle import ThrottleUnavailable, TooManyAttempts
from tessera_core.errors import BEARER_ERRORS, problem_responses
from tessera_core.web.deps import CurrentClaims, RevocationsDep, RevokingClaims, UserRepositoryDep

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/auth/factors", tags=["second factors"])
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
CHECKED = (TooManyAttempts, ThrottleUnavailable, SecondFactorsUnavailable, *BEARER_ERRORS)


@router.get("", response_model=FactorStatus, responses=problem_responses(*BEARER_ERRORS))
async def factor_status(claims: CurrentClaims, factors: FactorsDep) -> FactorStatus:
    """The caller's second factors: TOTP on, pending or off, and recovery codes left."""
    return await factors.status(uuid.UUID(claims.sub))


@router.post(
    "/totp",
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
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(
        InvalidCurrentPassword, InvalidSecondFactor, TotpNotEnabled, *CHECKED
    ),
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
    await factors.remove_totp(
        await users.token_user_to_change(claims.sub),
        password=data.password,
        code=data.code,
        recovery_code=data.recovery_code,
        client=client.ip,
        revocations=revocations,
        mail=mail,
        keep_session=uuid.UUID(claims.sid),
    )


@router.post(
    "/recovery-codes",
    response_model=RecoveryCodes,
    responses=problem_responses(
        InvalidCurrentPassword, InvalidSecondFactor, TotpNotEnabled, *CHECKED
    ),
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
    codes = await factors.replace_recovery_codes(
        await users.token_user_to_change(claims.sub),
        password=data.password,
        code=data.code,
        recovery_code=data.recovery_code,
        client=client.ip,
        mail=mail,
    )
    return RecoveryCodes(recovery_codes=codes)
