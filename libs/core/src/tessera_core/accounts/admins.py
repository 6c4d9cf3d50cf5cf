"""Idempotent admin creation: ``tessera create-admin`` and the auth service's bootstrap
admin settings."""

from __future__ import annotations

import enum
from pathlib import Path

from tessera_core.accounts.passwords import PasswordHasher, common_passwords, password_problems
from tessera_core.accounts.repository import UserRepository
from tessera_core.accounts.users import check_email, check_username, identifier_key
from tessera_core.db.engine import Database
from tessera_core.db.models import User
from tessera_core.db.unit_of_work import UnitOfWork
from tessera_core.errors import Conflict
from tessera_core.settings import Settings

__all__ = ["AdminCreation", "ensure_admin", "ensure_admin_in"]


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
