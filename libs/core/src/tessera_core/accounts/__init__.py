"""What both services know of an account: the user rules and repository (``users``),
password hashing and policy (``passwords``), login and request limits
(``throttle``), and the single-use link tokens (``account_tokens``)."""

from tessera_core.accounts.account_tokens import AccountTokenRepository, Purpose
from tessera_core.accounts.passwords import (
    PasswordHasher,
    common_passwords,
    owasp_argon2,
    password_problems,
)
from tessera_core.accounts.throttle import (
    LoginThrottle,
    RequestLimit,
    ThrottleUnavailable,
    TooManyAttempts,
    TooManyRequests,
    client_key,
)
from tessera_core.accounts.users import (
    TOKEN_USER_QUERY,
    AdminCreation,
    EmailTaken,
    TokenUser,
    UsernameTaken,
    UserRepository,
    check_email,
    check_username,
    ensure_admin,
    ensure_admin_in,
    identifier_key,
    read_token_user,
    token_user_to_change,
)

__all__ = [
    "TOKEN_USER_QUERY",
    "AccountTokenRepository",
    "AdminCreation",
    "EmailTaken",
    "LoginThrottle",
    "PasswordHasher",
    "Purpose",
    "RequestLimit",
    "ThrottleUnavailable",
    "TokenUser",
    "TooManyAttempts",
    "TooManyRequests",
    "UserRepository",
    "UsernameTaken",
    "check_email",
    "check_username",
    "client_key",
    "common_passwords",
    "ensure_admin",
    "ensure_admin_in",
    "identifier_key",
    "owasp_argon2",
    "password_problems",
    "read_token_user",
    "token_user_to_change",
]
