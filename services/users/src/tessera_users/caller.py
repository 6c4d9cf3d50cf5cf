"""Who is asking: the verified token and the account behind it, as both the dependencies
and the profile rules need them."""

from __future__ import annotations

from dataclasses import dataclass

from tessera_core.accounts.repository import TokenUser
from tessera_core.db.models import User
from tessera_core.tokens import AccessClaims

__all__ = ["Caller", "WritingCaller"]


@dataclass(frozen=True)
class Caller:
    """Who is asking: their verified token and their row as it is now: a ``TokenUser`` for
    a request that only reads, the unit of work's ``User`` for one that may write it."""

    claims: AccessClaims
    user: User | TokenUser

    @property
    def is_admin(self) -> bool:
        # The token says admin (or service account) AND the row still does: a demoted
        # admin's token is revoked anyway, but the row is the truth if that ever lags.
        return self.claims.manages_users and self.user.is_admin and self.user.is_active


@dataclass(frozen=True)
class WritingCaller(Caller):
    """The caller of a route that may change their own row: it is the unit of work's."""

    user: User
