"""Dependencies of the account routes (and of the layers above that reach accounts). The
``user`` table's repository is ``tessera_core.web.deps.UserRepositoryDep``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from tessera_auth.deps import AuthStateDep
from tessera_core.accounts.account_tokens import AccountTokenRepository
from tessera_core.mail import AccountMail
from tessera_core.web.deps import DbSessionDep, SettingsDep

__all__ = [
    "AccountMailDep",
    "AccountTokenRepositoryDep",
    "get_account_mail",
    "get_account_token_repository",
]


async def get_account_token_repository(db: DbSessionDep) -> AccountTokenRepository:
    return AccountTokenRepository(db)


AccountTokenRepositoryDep = Annotated[AccountTokenRepository, Depends(get_account_token_repository)]


async def get_account_mail(
    db: DbSessionDep, auth: AuthStateDep, settings: SettingsDep
) -> AccountMail:
    """Mail of this request, written to the outbox in its transaction."""
    return AccountMail.in_session(db, auth.mail_templates, settings, auth.mail_budget)


AccountMailDep = Annotated[AccountMail, Depends(get_account_mail)]
