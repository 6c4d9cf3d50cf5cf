"""Registration, authentication and password changes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from tessera_auth.accounts.errors import (
    EmailNotVerified,
    InvalidCredentials,
    InvalidCurrentPassword,
    WeakPassword,
)
from tessera_auth.accounts.schemas import UserCreate
from tessera_core.accounts.account_tokens import AccountTokenRepository
from tessera_core.accounts.passwords import PasswordHasher, password_problems
from tessera_core.accounts.repository import UserRepository
from tessera_core.accounts.throttle import LoginThrottle, TooManyAttempts
from tessera_core.accounts.users import EmailTaken, UsernameTaken
from tessera_core.db.models import User
from tessera_core.mail import AccountMail
from tessera_core.ops.metrics import AUTH_LOGINS
from tessera_core.revocation import Revocations

__all__ = ["authenticate", "change_password", "register"]


async def register(
    users: UserRepository,
    hasher: PasswordHasher,
    common: frozenset[str],
    mail: AccountMail,
    data: UserCreate,
) -> User:
    """Create the account and mail a verification link to its address (same transaction)."""
    problems = password_problems(
        data.password, username=data.username, email=data.email, common=common
    )
    if problems:
        raise WeakPassword(problems)
    if await users.username_taken(data.username):
        raise UsernameTaken("A user with this username already exists.")
    if await users.email_taken(data.email):
        raise EmailTaken("A user with this email already exists.")
    user = User(
        username=data.username,
        email=data.email,
        password_hash=await hasher.hash(data.password),
        nickname=data.nickname,
        first_name=data.first_name,
        last_name=data.last_name,
    )
    user = await users.add(user)
    await mail.email_verification(user)
    return user


async def authenticate(
    users: UserRepository,
    hasher: PasswordHasher,
    throttle: LoginThrottle,
    *,
    login: str,
    password: str,
    client: str | None,
    require_verified: bool = False,
) -> User:
    """The active user these credentials belong to, or ``InvalidCredentials``.

    The attempt takes its place in the counters before anything is looked up
    (``LoginThrottle.reserve``), so concurrent guesses cannot outrun the limit. Unknown
    users are verified against a dummy hash, so the answer takes about the same time
    whether the account exists or not, and the body is the same either way. With
    ``require_verified``, an account whose email is unverified is refused
    (``EmailNotVerified``), only once its password has been proved: the refusal tells
    nothing to whoever does not know the password.
    """
    try:
        attempt = await throttle.reserve(identifier=login, client=client)
    except TooManyAttempts:
        AUTH_LOGINS.labels(result="throttled").inc()
        raise
    user = await users.get_by_identifier(login)
    valid = await hasher.verify(user.password_hash if user else None, password)
    # A service account has no password to log in with (docs/service-accounts.md): its row
    # holds the hash of a random one, verified all the same so the answer takes as long.
    if user is None or not valid or not user.is_active or user.is_service:
        await attempt.failed()
        AUTH_LOGINS.labels(result="failure").inc()
        raise InvalidCredentials("The username or password is incorrect.")
    await attempt.passed()
    if require_verified and not user.email_verified:
        AUTH_LOGINS.labels(result="unverified").inc()
        raise EmailNotVerified(
            "Confirm your email address first: follow the link mailed to you, or ask for a "
            "new one (POST /api/v1/auth/email/verify/resend)."
        )
    if hasher.needs_rehash(user.password_hash):
        user.password_hash = await hasher.hash(password)
    await users.record_login(user, datetime.now(UTC))
    AUTH_LOGINS.labels(result="success").inc()
    return user


async def change_password(
    user: User,
    hasher: PasswordHasher,
    common: frozenset[str],
    throttle: LoginThrottle,
    revocations: Revocations,
    tokens: AccountTokenRepository,
    mail: AccountMail,
    *,
    current_password: str,
    new_password: str,
    keep_session: uuid.UUID,
    client: str | None,
) -> None:
    """Set a new password and end every other session of the user: whoever else holds
    one of them may be who learnt the old password. Wrong current passwords count like
    failed logins of the account: a stolen access token cannot guess without limit. The
    address is told, as after a reset: the holder of a stolen token may be who changed it."""
    if not await throttle.check_password(
        hasher,
        user.password_hash,
        current_password,
        identifier=user.username,
        client=client,
        # A password change ends the other sessions: like every revoking endpoint it must
        # not wait for Redis (a thief cannot take Redis down to guess uncounted).
        when_unavailable="check",
    ):
        raise InvalidCurrentPassword("The current password is incorrect.")
    problems = password_problems(
        new_password, username=user.username, email=user.email, common=common
    )
    if problems:
        raise WeakPassword(problems, field="new_password")
    user.password_hash = await hasher.hash(new_password)
    # A reset link mailed before the change must not undo it.
    await tokens.discard_unused(user.id, "reset")
    await revocations.revoke_other_sessions(user.id, keep=keep_session, reason="password_changed")
    await mail.password_changed(user)
