"""Account rules shared by both services and the CLI: username and email shape, the
canonical key of an identifier, the uniqueness errors, and idempotent admin creation
(``create-admin`` and the bootstrap settings). The ``user`` rows themselves are
``tessera_core.accounts.repository.UserRepository``'s."""

from __future__ import annotations

import contextlib
import enum
import re
import unicodedata
from pathlib import Path

import idna
from email_validator import EmailNotValidError, validate_email

from tessera_core.accounts.passwords import PasswordHasher, common_passwords, password_problems
from tessera_core.db.engine import Database
from tessera_core.db.models import User
from tessera_core.db.unit_of_work import UnitOfWork
from tessera_core.errors import Conflict
from tessera_core.settings import Settings

__all__ = [
    "USERNAME_PATTERN",
    "AdminCreation",
    "EmailTaken",
    "UsernameTaken",
    "check_email",
    "check_username",
    "ensure_admin",
    "ensure_admin_in",
    "identifier_key",
]

USERNAME_PATTERN = re.compile(r"^[\w.@+-]{3,150}$", re.ASCII)


def check_username(username: str) -> str:
    """Return the username in NFKC form if that is 3-150 letters, digits and ``@.+-_``;
    else ValueError. NFKC first, so a full-width ``\uff21lice`` is ``Alice``, not a
    look-alike of it."""
    username = unicodedata.normalize("NFKC", username)
    if not USERNAME_PATTERN.fullmatch(username):
        raise ValueError("must be 3-150 characters of letters, digits and @.+-_")
    return username


def check_email(email: str) -> str:
    """Return the email as given (trimmed) if valid; else ValueError."""
    email = email.strip()
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from exc
    return email


def identifier_key(identifier: str) -> str:
    """The canonical form under which a username, an email or a login string names an
    account: NFKC, case-folded, and after the last ``@`` the domain in IDNA (A-label) form.

    Two strings with one key are one identifier: ``alice@example.com``, the same in
    full-width letters, and a *username* ``ALICE@example.com`` all collide.

    Example:
        >>> identifier_key("\uff21lice@B\u00fccher.DE")
        'alice@xn--bcher-kva.de'
    """
    key = unicodedata.normalize("NFKC", identifier.strip()).casefold()
    local, at, domain = key.rpartition("@")
    if at and domain:
        # Not a domain (a login string can be anything)? Then it is compared as it is.
        with contextlib.suppress(idna.IDNAError):
            domain = idna.encode(domain, uts46=True).decode("ascii")
        key = f"{local}@{domain}"
    return key


class UsernameTaken(Conflict):
    code = "username_taken"
    title = "Username already taken"


class EmailTaken(Conflict):
    code = "email_taken"
    title = "Email already registered"


class AdminCreation(enum.Enum):
    CREATED = "created"
    PROMOTED = "promoted"
    UNCHANGED = "unchanged"


async def ensure_admin_in(
    work: UnitOfWork,
    hasher: PasswordHasher,
    *,
    username: str,
    email: str,
    password: str,
    common_file: Path | None = None,
) -> AdminCreation:
    """Create the admin, or promote an existing user of that username, in ``work`` (one that
    writes); never reset a password."""
    # Imported here: the repository imports this module's rules (identifier_key, the errors).
    from tessera_core.accounts.repository import UserRepository

    username = check_username(username)
    email = check_email(email)
    users = UserRepository(work)
    existing = await users.get_by_identifier(username)
    if existing is not None and identifier_key(existing.username) != identifier_key(username):
        raise ValueError(f"the username {username} is another user's email")
    if await users.email_taken(email, excluding=existing.id if existing else None):
        raise ValueError(f"the email {email} belongs to another user")
    if existing is not None:
        if existing.is_admin and existing.is_active:
            return AdminCreation.UNCHANGED
        existing.is_admin = True
        existing.is_active = True
        return AdminCreation.PROMOTED
    problems = password_problems(
        password, username=username, email=email, common=common_passwords(common_file)
    )
    if problems:
        raise ValueError(" ".join(problems))
    # The operator gave this address: it counts as verified (no mail is sent for it).
    admin = User(
        username=username,
        email=email,
        password_hash=await hasher.hash(password),
        is_admin=True,
        email_verified=True,
    )
    try:
        await users.save(admin)
    except Conflict as exc:
        raise ValueError(str(exc)) from exc
    return AdminCreation.CREATED


async def ensure_admin(
    settings: Settings, *, username: str, email: str, password: str
) -> AdminCreation:
    """``ensure_admin_in`` with its own pool: for the CLI."""
    database = Database(settings)
    hasher = PasswordHasher(
        threads=1,
        memory_kib=settings.password_hash_memory_kib,
        time_cost=settings.password_hash_time_cost,
    )
    try:
        async with UnitOfWork(database, writes=True) as work:
            return await ensure_admin_in(
                work,
                hasher,
                username=username,
                email=email,
                password=password,
                common_file=settings.common_passwords_file,
            )
    finally:
        hasher.close()
        await database.close()
