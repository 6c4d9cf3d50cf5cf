"""Password reset and email verification: the rules. Links carry single-use tokens
(``tessera_core.accounts.account_tokens``); the mail goes to the outbox in the request's
transaction (``tessera_core.mail``)."""

from __future__ import annotations

from datetime import UTC, datetime

from tessera_auth.accounts.errors import WeakPassword
from tessera_auth.recovery.errors import (
    EmailAlreadyVerified,
    InvalidResetToken,
    InvalidVerificationToken,
    ResetTokenExpired,
    ResetTokenUsed,
    VerificationTokenExpired,
    VerificationTokenUsed,
)
from tessera_core.accounts.account_tokens import AccountTokenRepository, Purpose
from tessera_core.accounts.passwords import PasswordHasher, password_problems
from tessera_core.accounts.repository import UserRepository
from tessera_core.accounts.throttle import RequestLimit
from tessera_core.accounts.users import identifier_key
from tessera_core.db.models import AccountToken, User
from tessera_core.errors import TesseraError
from tessera_core.mail import AccountMail
from tessera_core.revocation import Revocations
from tessera_core.settings import Settings

__all__ = ["forgot_password", "resend_verification", "reset_password", "verify_email"]


async def forgot_password(
    users: UserRepository,
    mail: AccountMail,
    limit: RequestLimit,
    settings: Settings,
    *,
    email: str,
    client: str | None,
) -> None:
    """Mail a reset link if an active account has this email; say nothing either way.

    The limits count the address asked for whether or not an account has it, so a 429 says
    nothing about accounts either; the router pads the answer to a fixed minimum time. As
    for logins, the address is limited strictly from one client and loosely from all: a
    stranger asking from one place cannot use up the owner's requests.
    """
    key = identifier_key(email)
    where = limit.client(client)
    await limit.hit(
        ("email-client", f"{key}\x1f{where}", settings.mail_requests_per_email),
        ("email", key, settings.mail_requests_per_email_across_clients),
        ("client", where, settings.mail_requests_per_client),
    )
    user = await users.get_by_identifier(email)
    # Only the account's email names it here: a username typed into the form sends nothing,
    # so the form cannot tell which usernames exist either.
    if user is not None and user.is_active and identifier_key(user.email) == key:
        await mail.password_reset(user)


async def reset_password(
    users: UserRepository,
    tokens: AccountTokenRepository,
    mail: AccountMail,
    hasher: PasswordHasher,
    common: frozenset[str],
    revocations: Revocations,
    *,
    token: str,
    new_password: str,
) -> User:
    """Spend a reset token: set the new password (the policy applies), end every session
    of the user in both services (the revocation path of logout-all), void the other reset
    links and send a notice to the address."""
    row, user = await _spendable(
        users,
        tokens,
        token,
        "reset",
        "password-reset link",
        (InvalidResetToken, ResetTokenUsed, ResetTokenExpired),
    )
    problems = password_problems(
        new_password, username=user.username, email=user.email, common=common
    )
    if problems:
        raise WeakPassword(problems, field="new_password")
    user.password_hash = await hasher.hash(new_password)
    # Following a link mailed to the address proves it, as a verification link would.
    user.email_verified = True
    row.used_at = datetime.now(UTC)
    await users.session.flush()  # spent before the unused ones are discarded
    await tokens.discard_unused(user.id, "reset")
    await revocations.revoke_user(user.id, reason="password_reset")
    await mail.password_changed(user)
    await users.session.flush()
    return user


async def verify_email(
    users: UserRepository, tokens: AccountTokenRepository, *, token: str
) -> User:
    """Spend a verification token: the address it was sent to is the account's."""
    row, user = await _spendable(
        users,
        tokens,
        token,
        "verify",
        "verification link",
        (InvalidVerificationToken, VerificationTokenUsed, VerificationTokenExpired),
    )
    user.email_verified = True
    row.used_at = datetime.now(UTC)
    await users.session.flush()
    return user


async def resend_verification(
    user: User, mail: AccountMail, limit: RequestLimit, settings: Settings
) -> None:
    """A new verification link for the caller's address (the older ones stop working)."""
    if user.email_verified:
        raise EmailAlreadyVerified("This account's email is verified already.")
    await limit.hit(("account", str(user.id), settings.mail_requests_per_email))
    await mail.email_verification(user)


async def _spendable(
    users: UserRepository,
    tokens: AccountTokenRepository,
    token: str,
    purpose: Purpose,
    link: str,
    errors: tuple[type[TesseraError], type[TesseraError], type[TesseraError]],
) -> tuple[AccountToken, User]:
    """The locked row of an unused, unexpired ``token`` and its user; else the error of
    ``errors`` (invalid, used, expired) that says why."""
    invalid, used, expired = errors
    row = await tokens.find_for_update(token, purpose)
    user = await _token_user(users, row)
    if row is None or user is None:
        raise invalid(f"This {link} is not valid.")
    if row.used_at is not None:
        raise used(f"This {link} has been used already.")
    if row.expires_at <= datetime.now(UTC):
        raise expired(f"This {link} has expired; ask for a new one.")
    return row, user


async def _token_user(users: UserRepository, row: AccountToken | None) -> User | None:
    """The active account a token was mailed to, if its email is still the one the token
    was sent to (a link mailed to an old address is void)."""
    if row is None:
        return None
    user = await users.get(row.user_id)
    if user is None or not user.is_active or user.email != row.email:
        return None
    return user
