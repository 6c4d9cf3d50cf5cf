from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter, status

from tessera_auth.accounts.deps import AccountMailDep, AccountTokenRepositoryDep
from tessera_auth.accounts.errors import WeakPassword
from tessera_auth.deps import AuthStateDep, ClientInfoDep
from tessera_auth.recovery import service
from tessera_auth.recovery.errors import (
    EmailAlreadyVerified,
    InvalidResetToken,
    InvalidVerificationToken,
    ResetTokenExpired,
    ResetTokenUsed,
    VerificationTokenExpired,
    VerificationTokenUsed,
)
from tessera_auth.recovery.schemas import Accepted, EmailVerify, PasswordForgot, PasswordReset
from tessera_core.accounts.throttle import ThrottleUnavailable, TooManyRequests
from tessera_core.errors import BEARER_ERRORS, PROBLEM_JSON, TesseraError, problem_responses
from tessera_core.tokens.scopes import PROFILE_WRITE
from tessera_core.web.deps import (
    CurrentClaims,
    RevocationsDep,
    SettingsDep,
    UserRepositoryDep,
    requires,
)

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/auth", tags=["recovery"])
ACCEPTED = Accepted(detail="If an account has this address, a message is on its way.")


def with_example(
    responses: dict[int | str, dict[str, Any]], status_code: int, error: TesseraError
) -> dict[int | str, dict[str, Any]]:
    """``responses`` with ``error``'s body as the example of its status."""
    responses[status_code]["content"][PROBLEM_JSON]["example"] = error.body()
    return responses


RESET_RESPONSES = with_example(
    problem_responses(InvalidResetToken, ResetTokenUsed, ResetTokenExpired, WeakPassword),
    400,
    ResetTokenUsed("This password-reset link has been used already."),
)
VERIFY_RESPONSES = with_example(
    problem_responses(InvalidVerificationToken, VerificationTokenUsed, VerificationTokenExpired),
    400,
    VerificationTokenExpired("This verification link has expired; ask for a new one."),
)


@router.post(
    "/password/forgot",
    response_model=Accepted,
    status_code=status.HTTP_202_ACCEPTED,
    responses=problem_responses(TooManyRequests, ThrottleUnavailable),
)
async def forgot_password(
    data: PasswordForgot,
    users: UserRepositoryDep,
    mail: AccountMailDep,
    auth: AuthStateDep,
    settings: SettingsDep,
    client: ClientInfoDep,
) -> Accepted:
    """Mail a password-reset link to this address if an account has it; 202 either way."""
    started = time.monotonic()
    await service.forgot_password(
        users, mail, auth.forgot_limit, settings, email=data.email, client=client.ip
    )
    # The same answer after about the same time whether or not an account has the address:
    # sending takes a token, a template and two inserts more than not sending.
    await asyncio.sleep(
        max(0.0, settings.password_forgot_min_seconds - (time.monotonic() - started))
    )
    return ACCEPTED


@router.post(
    "/password/reset",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=RESET_RESPONSES,
)
async def reset_password(
    data: PasswordReset,
    users: UserRepositoryDep,
    tokens: AccountTokenRepositoryDep,
    mail: AccountMailDep,
    revocations: RevocationsDep,
    auth: AuthStateDep,
) -> None:
    """Set a new password with a mailed reset token; every session of the account ends."""
    await service.reset_password(
        users,
        tokens,
        mail,
        auth.hasher,
        auth.common_passwords,
        revocations,
        token=data.token,
        new_password=data.new_password,
    )


@router.post(
    "/email/verify",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=VERIFY_RESPONSES,
)
async def verify_email(
    data: EmailVerify, users: UserRepositoryDep, tokens: AccountTokenRepositoryDep
) -> None:
    """Confirm the account's email with a mailed verification token."""
    await service.verify_email(users, tokens, token=data.token)


@router.post(
    "/email/verify/resend",
    dependencies=[requires(PROFILE_WRITE)],
    response_model=Accepted,
    status_code=status.HTTP_202_ACCEPTED,
    responses=problem_responses(
        EmailAlreadyVerified, TooManyRequests, ThrottleUnavailable, *BEARER_ERRORS
    ),
)
async def resend_verification(
    claims: CurrentClaims,
    users: UserRepositoryDep,
    mail: AccountMailDep,
    auth: AuthStateDep,
    settings: SettingsDep,
) -> Accepted:
    """Mail a new verification link to the caller's address."""
    user = await users.token_user_to_change(claims.sub)
    await service.resend_verification(user, mail, auth.resend_limit, settings)
    return Accepted(detail="A verification message is on its way.")
