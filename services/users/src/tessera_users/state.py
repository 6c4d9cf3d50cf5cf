"""What the users service holds while it runs, seen by every request as ``request.state``."""

from __future__ import annotations

from dataclasses import dataclass

from tessera_core.accounts.passwords import PasswordHasher
from tessera_core.accounts.throttle import LoginThrottle, RequestLimit
from tessera_core.mail import MailTemplates, RecipientBudget
from tessera_core.web.runtime import CoreLifespanState
from tessera_users.cursor import CursorCodec

__all__ = ["UsersLifespanState", "UsersState"]


@dataclass(frozen=True)
class UsersState:
    cursors: CursorCodec
    # Re-authentication of an email change: the caller's password, counted like logins.
    hasher: PasswordHasher
    throttle: LoginThrottle
    # An email change mails a notice to the old address and a link to the new one (the
    # outbox is shared; the auth service delivers).
    mail_templates: MailTemplates
    mail_budget: RecipientBudget
    # Email changes per account: each mails two addresses.
    email_change_limit: RequestLimit


class UsersLifespanState(CoreLifespanState):
    users: UsersState
