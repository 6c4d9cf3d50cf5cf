"""Account rules shared by both services and the CLI: username and email shape, the
user rows' uniqueness, the account behind a token, and idempotent admin creation
(``create-admin`` and the bootstrap settings)."""

from __future__ import annotations

import enum
import re
import uuid
from pathlib import Path

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tessera_core.db import make_engine, make_session_factory, session_scope
from tessera_core.errors import Conflict, TokenRevoked
from tessera_core.models import User
from tessera_core.passwords import PasswordHasher, common_passwords, password_problems
from tessera_core.settings import Settings

__all__ = [
    "USERNAME_PATTERN",
    "AdminCreation",
    "EmailTaken",
    "UserRepository",
    "UsernameTaken",
    "check_email",
    "check_username",
    "ensure_admin",
    "ensure_admin_in",
]

USERNAME_PATTERN = re.compile(r"^[\w.@+-]{3,150}$", re.ASCII)


def check_username(username: str) -> str:
    """Return the username if it is 3-150 letters, digits and ``@.+-_``; else ValueError."""
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


class UsernameTaken(Conflict):
    code = "username_taken"
    title = "Username already taken"


class EmailTaken(Conflict):
    code = "email_taken"
    title = "Email already registered"


class UserRepository:
    """The ``user`` rows both services write: lookups and uniqueness, case-insensitively."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: uuid.UUID) -> User | None:
        return await self.session.get(User, user_id)

    async def get_token_user(self, user_id: str) -> User:
        """The active account a verified token belongs to; ``TokenRevoked`` if it is gone
        or inactive (deactivation revokes tokens; this covers a row changed behind it)."""
        user = await self.get(uuid.UUID(user_id))
        if user is None or not user.is_active:
            raise TokenRevoked("The account behind this token no longer exists or is inactive.")
        return user

    async def username_taken(self, username: str) -> bool:
        query = select(User.id).where(func.lower(User.username) == username.lower())
        return await self.session.scalar(query) is not None

    async def email_taken(self, email: str, *, excluding: uuid.UUID | None = None) -> bool:
        query = select(User.id).where(func.lower(User.email) == email.lower())
        if excluding is not None:
            query = query.where(User.id != excluding)
        return await self.session.scalar(query) is not None

    async def save(self, user: User) -> User:
        """Insert or update now. Two concurrent claims of one username or email both pass
        the checks above; the unique index fails the later one, which becomes a 409."""
        try:
            async with self.session.begin_nested():
                self.session.add(user)
                await self.session.flush()
        except IntegrityError as exc:
            constraint = getattr(getattr(exc.orig, "diag", None), "constraint_name", "") or ""
            if constraint == "uq_user_email_lower":
                raise EmailTaken("A user with this email already exists.") from exc
            if constraint == "uq_user_username_lower":
                raise UsernameTaken("A user with this username already exists.") from exc
            raise
        return user


class AdminCreation(enum.Enum):
    CREATED = "created"
    PROMOTED = "promoted"
    UNCHANGED = "unchanged"


async def ensure_admin_in(
    db: AsyncSession,
    hasher: PasswordHasher,
    *,
    username: str,
    email: str,
    password: str,
    common_file: Path | None = None,
) -> AdminCreation:
    """Create the admin, or promote an existing user of that username; never reset a password."""
    check_username(username)
    check_email(email)
    existing = await db.scalar(
        select(User).where(
            or_(
                func.lower(User.username) == username.lower(),
                func.lower(User.email) == email.lower(),
            )
        )
    )
    if existing is not None:
        if existing.username.lower() != username.lower():
            raise ValueError(f"the email {email} belongs to another user")
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
    db.add(
        User(
            username=username,
            email=email,
            password_hash=await hasher.hash(password),
            is_admin=True,
        )
    )
    await db.flush()
    return AdminCreation.CREATED


async def ensure_admin(
    settings: Settings, *, username: str, email: str, password: str
) -> AdminCreation:
    """``ensure_admin_in`` with its own engine: for the CLI."""
    engine = make_engine(settings)
    hasher = PasswordHasher(threads=1)
    try:
        async with session_scope(make_session_factory(engine)) as db:
            return await ensure_admin_in(
                db,
                hasher,
                username=username,
                email=email,
                password=password,
                common_file=settings.common_passwords_file,
            )
    finally:
        hasher.close()
        await engine.dispose()
