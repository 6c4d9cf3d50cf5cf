"""What both services know of an account: the user rules (``users``), the one repository
of the ``user`` table (``repository``) and the admin listing's query shapes (``listing``),
admin creation (``admins``), password hashing and policy (``passwords``), login and
request limits (``throttle``), and the single-use link tokens (``account_tokens``)."""

from tessera_core.accounts.account_tokens import AccountTokenRepository, Purpose
from tessera_core.accounts.admins import AdminCreation, ensure_admin, ensure_admin_in
from tessera_core.accounts.listing import (
    Ordering,
    Position,
    UserFilters,
    count_sql,
    count_statement,
    page_parameters,
    page_sql,
    page_statement,
)
from tessera_core.accounts.passwords import (
    PasswordHasher,
    common_passwords,
    owasp_argon2,
    password_problems,
)
from tessera_core.accounts.repository import TOKEN_USER_QUERY, TokenUser, UserRepository
from tessera_core.accounts.throttle import (
    LoginThrottle,
    RequestLimit,
    ThrottleUnavailable,
    TooManyAttempts,
    TooManyRequests,
    client_key,
)
from tessera_core.accounts.users import (
    EmailTaken,
    UsernameTaken,
    check_email,
    check_username,
    identifier_key,
)

__all__ = [
    "TOKEN_USER_QUERY",
    "AccountTokenRepository",
    "AdminCreation",
    "EmailTaken",
    "LoginThrottle",
    "Ordering",
    "PasswordHasher",
    "Position",
    "Purpose",
    "RequestLimit",
    "ThrottleUnavailable",
    "TokenUser",
    "TooManyAttempts",
    "TooManyRequests",
    "UserFilters",
    "UserRepository",
    "UsernameTaken",
    "check_email",
    "check_username",
    "client_key",
    "common_passwords",
    "count_sql",
    "count_statement",
    "ensure_admin",
    "ensure_admin_in",
    "identifier_key",
    "owasp_argon2",
    "page_parameters",
    "page_sql",
    "page_statement",
    "password_problems",
]
