"""Dependencies of the profile routes: the user a route's ``{user_id}`` names (loaded once,
or 404), the re-authentication of an email change, and the mail it sends."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, Request

from tessera_core.db.models import User
from tessera_core.mail import AccountMail
from tessera_core.web.deps import DbSessionDep, SettingsDep, StepUpGuardDep, UserRepositoryDep
from tessera_users.deps import CurrentCaller, RevokingCaller, UsersStateDep
from tessera_users.profiles import service as profiles
from tessera_users.profiles.service import Reauthentication

__all__ = [
    "AccountMailDep",
    "ReauthenticationDep",
    "RevokingTargetUser",
    "TargetUser",
    "get_account_mail",
    "get_reauthentication",
    "get_revoking_target_user",
    "get_target_user",
]


async def get_reauthentication(
    request: Request, state: UsersStateDep, settings: SettingsDep, step_up: StepUpGuardDep
) -> Reauthentication:
    return Reauthentication(
        state.hasher,
        state.throttle,
        request.client.host if request.client else None,
        state.email_change_limit,
        settings.email_changes_per_account,
        step_up,
    )


ReauthenticationDep = Annotated[Reauthentication, Depends(get_reauthentication)]


async def get_account_mail(
    db: DbSessionDep, state: UsersStateDep, settings: SettingsDep
) -> AccountMail:
    """Mail of this request, written to the shared outbox in its transaction."""
    return AccountMail.in_session(db, state.mail_templates, settings, state.mail_budget)


AccountMailDep = Annotated[AccountMail, Depends(get_account_mail)]


async def get_target_user(
    user_id: uuid.UUID, caller: CurrentCaller, users: UserRepositoryDep
) -> User:
    """The user of the path, if the caller may see it; else 404."""
    return await profiles.get_visible(users, caller, user_id)


async def get_revoking_target_user(
    user_id: uuid.UUID, caller: RevokingCaller, users: UserRepositoryDep
) -> User:
    return await profiles.get_visible(users, caller, user_id)


TargetUser = Annotated[User, Depends(get_target_user)]
RevokingTargetUser = Annotated[User, Depends(get_revoking_target_user)]
