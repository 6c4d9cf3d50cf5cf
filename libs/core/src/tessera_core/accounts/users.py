"""Account rules shared by both services and the CLI: username and email shape, the
user rows' uniqueness, the account behind a token, and idempotent admin creation
(``create-admin`` and the bootstrap settings)."""

from __future__ import annotations

import contextlib
import enum
import re
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import idna
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import bindparam, delete, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.dialects.postgresql import psycopg as postgresql_psycopg
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tessera_core.accounts.passwords import PasswordHasher, common_passwords, password_problems
from tessera_core.db.engine import Database
from tessera_core.db.models import User, UserIdentifier
from tessera_core.db.unit_of_work import UnitOfWork
from tessera_core.errors import Conflict, TokenRevoked
from tessera_core.settings import Settings

__all__ = [
    "TOKEN_USER_QUERY",
    "USERNAME_PATTERN",
    "AdminCreation",
    "EmailTaken",
    "TokenUser",
    "UserRepository",
    "UsernameTaken",
    "check_email",
    "check_username",
    "ensure_admin",
    "ensure_admin_in",
    "identifier_key",
    "read_token_user",
    "token_user_to_change",
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


def _token_user_query() -> str:
    columns = [attr.columns[0].label(attr.key) for attr in sa_inspect(User).column_attrs]
    query = select(*columns).where(User.id == bindparam("user_id"))
    return str(query.compile(dialect=postgresql_psycopg.dialect()))  # type: ignore[no-untyped-call]


TOKEN_USER_QUERY = _token_user_query()


@dataclass(frozen=True, slots=True)
class TokenUser:
    """A user's row as a request that only reads sees it: the ``User`` columns, no ORM
    state (building a mapped ``User`` for every ``/me`` cost a tenth of its CPU)."""

    id: uuid.UUID
    username: str
    email: str
    password_hash: str
    nickname: str
    first_name: str
    last_name: str
    is_active: bool
    is_admin: bool
    email_verified: bool
    date_joined: datetime
    last_login: datetime | None
    tokens_not_before: datetime | None


async def read_token_user(work: UnitOfWork, user_id: str) -> User | TokenUser:
    """The active account a verified token belongs to; ``TokenRevoked`` if it is gone or
    inactive (deactivation revokes tokens; this covers a row changed behind it). In a unit
    of work that writes, the session's ``User``, which the request may then change; in one
    that only reads, a ``TokenUser`` from one prepared query."""
    user: User | TokenUser | None
    if work.writes:
        user = await work.session.get(User, uuid.UUID(user_id))
    else:
        cursor = await work.execute(TOKEN_USER_QUERY, {"user_id": uuid.UUID(user_id)})
        row = await cursor.fetchone()
        user = TokenUser(**row) if row else None
    if user is None or not user.is_active:
        raise TokenRevoked("The account behind this token no longer exists or is inactive.")
    return user


async def token_user_to_change(work: UnitOfWork, user_id: str) -> User:
    """``read_token_user`` for a request that changes the account: its session's ``User``."""
    if not work.writes:
        raise RuntimeError("a request that only reads cannot change the token's account")
    user = await read_token_user(work, user_id)
    assert isinstance(user, User)
    return user


class UserRepository:
    """The ``user`` rows both services write: lookups and uniqueness, case-insensitively."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: uuid.UUID) -> User | None:
        return await self.session.get(User, user_id)

    async def username_taken(self, username: str) -> bool:
        """True if the username names any account: as a username or as an email."""
        return await self._key_owner(identifier_key(username)) is not None

    async def email_taken(self, email: str, *, excluding: uuid.UUID | None = None) -> bool:
        """True if the email names an account other than ``excluding``: as an email or as
        a username."""
        owner = await self._key_owner(identifier_key(email))
        return owner is not None and owner != excluding

    async def get_by_identifier(self, identifier: str) -> User | None:
        """The account a login string names (its username or its email, canonically)."""
        return await self.session.scalar(
            select(User)
            .join(UserIdentifier, UserIdentifier.user_id == User.id)
            .where(UserIdentifier.key == identifier_key(identifier))
        )

    async def _key_owner(self, key: str) -> uuid.UUID | None:
        return await self.session.scalar(
            select(UserIdentifier.user_id).where(UserIdentifier.key == key)
        )

    async def save(self, user: User) -> User:
        """Insert or update now, with the account's identifiers. Two concurrent claims of
        one username or email both pass the checks above; the database refuses the later
        one (the unique indexes on ``user``, the primary key of ``user_identifier``), and
        that becomes a 409."""
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
        await self._claim_identifiers(user)
        return user

    async def _claim_identifiers(self, user: User) -> None:
        # The username's key first: when an account's username and email are one string,
        # the one row says "username".
        wanted = {identifier_key(user.email): "email", identifier_key(user.username): "username"}
        await self.session.execute(
            delete(UserIdentifier).where(
                UserIdentifier.user_id == user.id, UserIdentifier.key.not_in(list(wanted))
            )
        )
        rows = insert(UserIdentifier).values(
            [{"key": key, "user_id": user.id, "kind": kind} for key, kind in wanted.items()]
        )
        # A key another account holds is neither inserted nor updated, so it is missing from
        # RETURNING; a concurrent claim waits on the primary key until the first commits.
        statement = rows.on_conflict_do_update(
            index_elements=[UserIdentifier.key],
            set_={"kind": rows.excluded.kind},
            where=UserIdentifier.user_id == rows.excluded.user_id,
        ).returning(UserIdentifier.key)
        claimed = set((await self.session.scalars(statement)).all())
        if identifier_key(user.username) not in claimed:
            raise UsernameTaken("This username already names another account.")
        if identifier_key(user.email) not in claimed:
            raise EmailTaken("This email already names another account.")


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
    username = check_username(username)
    email = check_email(email)
    users = UserRepository(db)
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
                work.session,
                hasher,
                username=username,
                email=email,
                password=password,
                common_file=settings.common_passwords_file,
            )
    finally:
        hasher.close()
        await database.close()
