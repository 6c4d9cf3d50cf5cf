"""Profile rules: who may read and change which user, and what a change sets off."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from tessera_core.accounts.passwords import PasswordHasher
from tessera_core.accounts.repository import UserRepository
from tessera_core.accounts.step_up import StepUpGuard
from tessera_core.accounts.throttle import LoginThrottle, RequestLimit
from tessera_core.accounts.users import EmailTaken
from tessera_core.db.models import User
from tessera_core.errors import InsufficientScope
from tessera_core.mail import AccountMail
from tessera_core.revocation import Revocations
from tessera_core.tokens.scopes import USERS_READ, USERS_WRITE
from tessera_users.caller import Caller
from tessera_users.profiles.errors import (
    ForbiddenField,
    ReauthenticationRequired,
    SelfLockout,
    UserNotFound,
)
from tessera_users.profiles.schemas import UserUpdate

__all__ = ["Reauthentication", "deactivate", "get_visible", "update"]

ADMIN_ONLY_FIELDS = ("is_active", "is_admin")


async def get_visible(users: UserRepository, caller: Caller, user_id: uuid.UUID) -> User:
    """The user with this id, if the caller may see it; else ``UserNotFound``, the same
    answer as for an id nobody has."""
    if user_id == caller.user.id and isinstance(caller.user, User):
        return caller.user  # the unit of work's own row: the one a change writes
    if user_id != caller.user.id:
        if not caller.is_admin:
            raise UserNotFound("No user has this id.")
        # The route asks profile:read of every caller; another's account is users:read.
        if USERS_READ not in caller.claims.scopes:
            raise InsufficientScope(USERS_READ)
    user = await users.get(user_id)
    if user is None:
        raise UserNotFound("No user has this id.")
    return user


@dataclass(frozen=True)
class Reauthentication:
    """What guards an email change: the hasher, the login throttle that counts a wrong
    current password like a failed login from the caller's address, and the limit on
    email changes per account (each mails two addresses: an account flipping its email
    between its own and a victim's would mail the victim without end)."""

    hasher: PasswordHasher
    throttle: LoginThrottle
    client: str | None
    email_changes: RequestLimit
    email_changes_per_account: int
    # A recent login (with a second factor where the caller's account has one) for an
    # email change, and for an admin's change of someone's roles or activity.
    step_up: StepUpGuard

    async def count_email_change(self, user: User) -> None:
        """``TooManyRequests`` past the account's email changes of the window."""
        await self.email_changes.hit(("account", str(user.id), self.email_changes_per_account))

    async def confirm(self, caller: Caller, password: str | None) -> None:
        if password is None or not await self.throttle.check_password(
            self.hasher,
            caller.user.password_hash,
            password,
            identifier=caller.user.username,
            client=self.client,
        ):
            raise ReauthenticationRequired(
                "Changing the email needs your current password (current_password)."
            )


async def update(
    users: UserRepository,
    revocations: Revocations,
    reauthentication: Reauthentication,
    mail: AccountMail,
    caller: Caller,
    user: User,
    data: UserUpdate,
) -> User:
    """Apply a partial update. A new email needs the caller's current password (theirs,
    also when an admin changes someone else's); it is unverified until its link is
    followed, and the old address is told (whoever changed it may not be the owner).
    Deactivating a user or changing their admin flag revokes every session of theirs at
    once: their tokens carry the old roles."""
    changes = data.changes()
    reserved = [name for name in ADMIN_ONLY_FIELDS if name in changes]
    if reserved and not caller.is_admin:
        raise ForbiddenField(reserved)
    # The route asks profile:write of every caller; another's account, or the fields only
    # an admin may set, is users:write.
    if (reserved or user.id != caller.user.id) and USERS_WRITE not in caller.claims.scopes:
        raise InsufficientScope(USERS_WRITE)
    if user.id == caller.user.id and (
        changes.get("is_active") is False or changes.get("is_admin") is False
    ):
        raise SelfLockout("Administrators cannot deactivate or demote their own account.")
    email: str = changes.get("email", user.email)
    sensitive = email != user.email or any(
        name in changes and changes[name] != getattr(user, name) for name in ADMIN_ONLY_FIELDS
    )
    if sensitive:
        await reauthentication.step_up.require()
    if email != user.email:
        await reauthentication.confirm(caller, data.current_password)
        if await users.email_taken(email, excluding=user.id):
            raise EmailTaken("A user with this email already exists.")
        await reauthentication.count_email_change(user)

    was_active, was_admin, old_email = user.is_active, user.is_admin, user.email
    _apply(user, changes)
    email_changed = user.email != old_email
    if email_changed:
        user.email_verified = False
    await users.save(user)
    if email_changed:
        # Reset links mailed to the old address are void (they name it); so are its
        # verification links, replaced by one for the new address.
        await mail.tokens.discard_unused(user.id, "reset")
        await mail.email_changed(user, old_email)
    if was_active and not user.is_active:
        await revocations.revoke_user(user.id, reason="deactivated")
    elif user.is_admin != was_admin:
        await revocations.revoke_user(user.id, reason="roles_changed")
    return user


async def deactivate(
    users: UserRepository,
    revocations: Revocations,
    caller: Caller,
    user_id: uuid.UUID,
    step_up: StepUpGuard,
) -> None:
    """Deactivate an account (the admin's ``DELETE``) and revoke its sessions; idempotent.
    Rows are kept: sessions, audit and foreign keys point at them. Needs the admin's
    step-up."""
    user = await get_visible(users, caller, user_id)
    if user.id == caller.user.id:
        raise SelfLockout("Administrators cannot delete their own account.")
    await step_up.require()
    if user.is_active:
        user.is_active = False
        await users.save(user)
    await revocations.revoke_user(user.id, reason="deactivated")


def _apply(user: User, changes: dict[str, Any]) -> None:
    for name, value in changes.items():
        setattr(user, name, value)
