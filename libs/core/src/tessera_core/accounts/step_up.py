"""Step-up (RFC 9470): a sensitive change needs a recent login, and a second factor where
the account has one. A token that falls short is answered 401
``insufficient_user_authentication`` with what it lacks (``max_age``, ``acr_values``); the
client logs in again (with a code) and retries with the new token."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from tessera_core.accounts.factors import FactorRepository
from tessera_core.errors import Unauthorized
from tessera_core.settings import Settings
from tessera_core.tokens.claims import AccessClaims

__all__ = ["SECOND_FACTOR_ACR", "InsufficientUserAuthentication", "StepUp", "StepUpGuard"]

# The acr_values a client is told to reach: a login proved with a second factor.
SECOND_FACTOR_ACR = "mfa"


class InsufficientUserAuthentication(Unauthorized):
    code = "insufficient_user_authentication"
    title = "A more recent or stronger login is required"

    def __init__(self, detail: str, *, max_age: int, second_factor: bool) -> None:
        super().__init__(detail)
        challenge = (
            f'Bearer error="insufficient_user_authentication", '
            f'error_description="{detail}", max_age="{max_age}"'
        )
        if second_factor:
            challenge += f', acr_values="{SECOND_FACTOR_ACR}"'
        self.headers["WWW-Authenticate"] = challenge


@dataclass(frozen=True)
class StepUp:
    """The recency (``TESSERA_STEP_UP_MAX_AGE_SECONDS``) and strength a change asks of the
    caller's token; every administrator must have used a second factor when
    ``TESSERA_ADMINS_REQUIRE_SECOND_FACTOR`` says so."""

    max_age: int
    admins_need_second_factor: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> StepUp:
        return cls(settings.step_up_max_age_seconds, settings.admins_require_second_factor)

    def require(self, claims: AccessClaims, *, has_second_factor: bool) -> None:
        """``InsufficientUserAuthentication`` unless the caller logged in within
        ``max_age`` seconds, with a second factor if their account has one (or they are
        an administrator and every administrator must)."""
        needs_factor = has_second_factor or (self.admins_need_second_factor and claims.is_admin)
        if needs_factor and SECOND_FACTOR_ACR not in claims.amr:
            raise InsufficientUserAuthentication(
                "Log in again with your second factor to do this.",
                max_age=self.max_age,
                second_factor=True,
            )
        if claims.auth_time is None or time.time() - claims.auth_time > self.max_age:
            raise InsufficientUserAuthentication(
                f"Log in again to do this: your login is more than {self.max_age} s old.",
                max_age=self.max_age,
                second_factor=needs_factor,
            )


@dataclass(frozen=True)
class StepUpGuard:
    """Step-up for one request: the caller's claims, and their account's factors read in
    the request's unit of work. A change asks it only when it is a sensitive one."""

    step_up: StepUp
    claims: AccessClaims
    factors: FactorRepository

    async def require(self) -> None:
        has_factor = await self.factors.has_second_factor(uuid.UUID(self.claims.sub))
        self.step_up.require(self.claims, has_second_factor=has_factor)
