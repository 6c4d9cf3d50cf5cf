"""The rules of second factors: enrolling TOTP behind the password, confirming it with a
first code, recovery codes, removing it behind the password and a code, and the second
step of a login."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import structlog

from tessera_auth.accounts.errors import InvalidCurrentPassword
from tessera_auth.factors.codes import (
    FactorKey,
    matching_step,
    new_recovery_codes,
    new_totp_secret,
    provisioning_uri,
    qr_svg,
)
from tessera_auth.factors.errors import (
    InvalidCode,
    InvalidSecondFactor,
    NoPendingTotp,
    SecondFactorsUnavailable,
    TotpAlreadyEnabled,
    TotpNotEnabled,
)
from tessera_auth.factors.schemas import FactorStatus, StepUpProof, TotpEnrollment
from tessera_core.accounts.factors import FactorRepository
from tessera_core.accounts.passwords import PasswordHasher
from tessera_core.accounts.throttle import LoginThrottle
from tessera_core.db.models import User
from tessera_core.mail import AccountMail
from tessera_core.revocation import Revocations
from tessera_core.settings import Settings

__all__ = ["SECOND_FACTOR_AMR", "Factors"]

log = structlog.get_logger("tessera.auth.factors")

# RFC 8176: a password, then a one-time code (TOTP or a single-use recovery code).
SECOND_FACTOR_AMR = ("pwd", "otp", "mfa")
TOTP = "totp"
RECOVERY_CODE = "recovery_code"
PASSKEY = "passkey"
T = TypeVar("T")


@dataclass(frozen=True)
class Factors:
    """One request's second factors, with what their rules need."""

    factors: FactorRepository
    hasher: PasswordHasher
    throttle: LoginThrottle
    settings: Settings

    @property
    def key(self) -> FactorKey:
        secret = self.settings.factor_secret
        if secret is None:
            raise SecondFactorsUnavailable(
                "Second factors are not configured here: set TESSERA_FACTOR_KEY."
            )
        return FactorKey(secret)

    async def methods(self, user_id: uuid.UUID) -> list[str]:
        """What a login of this account may answer its challenge with; empty: no factor."""
        totp, passkey = await self.factors.second_factors(user_id)
        methods = [TOTP, RECOVERY_CODE] if totp else []
        if passkey:
            methods.append(PASSKEY)
        return methods

    async def status(self, user_id: uuid.UUID) -> FactorStatus:
        totp = await self.factors.totp(user_id)
        return FactorStatus(
            totp_enabled=totp is not None and totp.confirmed_at is not None,
            totp_pending=totp is not None and totp.confirmed_at is None,
            recovery_codes_left=await self.factors.recovery_codes_left(user_id),
            passkeys=len(await self.factors.passkeys(user_id)),
        )

    async def prove_password(self, user: User, password: str, client: str | None) -> None:
        # Counted like a login of the account: a stolen access token cannot guess freely.
        if not await self.throttle.check_password(
            self.hasher, user.password_hash, password, identifier=user.username, client=client
        ):
            raise InvalidCurrentPassword("The current password is incorrect.")

    async def _prove_owner(self, user: User, proof: StepUpProof, client: str | None) -> None:
        """The password and a current code: what removing TOTP or replacing the recovery
        codes asks, fresher than any login."""
        await self.prove_password(user, proof.password, client)
        await self.prove_second_factor(user.id, proof.code, proof.recovery_code, client)

    async def enroll_totp(self, user: User, password: str, client: str | None) -> TotpEnrollment:
        """A new secret for ``user``, pending until ``confirm_totp``; an earlier pending one
        is replaced. Refused while a confirmed one exists (remove it first)."""
        key = self.key
        await self.prove_password(user, password, client)
        current = await self.factors.totp(user.id)
        if current is not None and current.confirmed_at is not None:
            raise TotpAlreadyEnabled("TOTP is already enabled: remove it first to replace it.")
        secret = new_totp_secret()
        await self.factors.start_totp(user.id, key.seal(user.id, secret))
        uri = provisioning_uri(secret, account=user.username, issuer=self.settings.totp_issuer)
        return TotpEnrollment(secret=secret, otpauth_uri=uri, qr_svg=qr_svg(uri))

    async def confirm_totp(
        self,
        user: User,
        code: str,
        client: str | None,
        revocations: Revocations,
        mail: AccountMail,
        keep_session: uuid.UUID,
    ) -> list[str]:
        """Turn the pending secret on with one code from it; its recovery codes, shown once.
        Every other session of the account ends: it was signed in with less."""
        key = self.key
        pending = await self.factors.totp(user.id)
        if pending is None or pending.confirmed_at is not None:
            raise NoPendingTotp("There is no TOTP enrollment to confirm: enroll first.")
        secret = key.open(user.id, pending.secret_sealed)

        async def match() -> int | None:
            return matching_step(secret, code, _now())

        step = await self._counted(user.id, client, match)
        if step is None:
            raise InvalidCode("The code does not match: check the app's clock and try again.")
        if not await self.factors.confirm_totp(user.id, step, _now()):
            raise NoPendingTotp("This enrollment was confirmed or replaced meanwhile.")
        codes = await self._new_recovery_codes(user.id, key)
        await revocations.revoke_other_sessions(user.id, keep=keep_session, reason="factor_added")
        await mail.second_factor_changed(user, "Two-step sign-in (TOTP) was turned on.")
        return codes

    async def remove_totp(
        self,
        user: User,
        proof: StepUpProof,
        client: str | None,
        revocations: Revocations,
        mail: AccountMail,
        keep_session: uuid.UUID,
    ) -> None:
        """Turn TOTP off (and void the recovery codes) behind the password and a code."""
        await self._prove_owner(user, proof, client)
        await self.factors.remove_totp(user.id)
        await revocations.revoke_other_sessions(user.id, keep=keep_session, reason="factor_removed")
        await mail.second_factor_changed(user, "Two-step sign-in (TOTP) was turned off.")

    async def remove_for_admin(
        self, user: User, admin_id: str, revocations: Revocations, mail: AccountMail
    ) -> None:
        """An administrator turns a user's second factors off (a lost phone and no recovery
        code left): every session of the user ends and the address is told."""
        if not await self.factors.remove_all(user.id):
            raise TotpNotEnabled("This user has no second factor.")
        await revocations.revoke_user(user.id, reason="factors_removed_by_admin")
        await mail.second_factor_changed(
            user, "An administrator removed your account's second factors (TOTP, passkeys)."
        )
        log.info("admin_removed_second_factors", admin_id=admin_id, user_id=str(user.id))

    async def replace_recovery_codes(
        self, user: User, proof: StepUpProof, client: str | None, mail: AccountMail
    ) -> list[str]:
        """Ten new recovery codes behind the password and a code; the old ones stop working."""
        await self._prove_owner(user, proof, client)
        codes = await self._new_recovery_codes(user.id, self.key)
        await mail.second_factor_changed(
            user, "New recovery codes were made; the old ones no longer work."
        )
        return codes

    async def prove_second_factor(
        self, user_id: uuid.UUID, code: str | None, recovery_code: str | None, client: str | None
    ) -> tuple[str, ...]:
        """Spend a TOTP code (its time step, once) or a recovery code (once) of the account;
        ``InvalidSecondFactor`` otherwise. Wrong codes count like failed logins of the
        account (``TooManyAttempts`` past the limits); the ``amr`` of the proof."""
        key = self.key
        if not await self.factors.has_second_factor(user_id):
            raise TotpNotEnabled("This account has no second factor.")
        now = _now()

        async def spend() -> bool | None:
            if recovery_code is not None:
                hashed = key.recovery_hash(recovery_code)
                return await self.factors.spend_recovery_code(user_id, hashed, now) or None
            totp = await self.factors.totp(user_id)
            if totp is None or totp.confirmed_at is None:
                return None  # an account with passkeys only has no code to match
            step = matching_step(key.open(user_id, totp.secret_sealed), code or "", now)
            return (step is not None and await self.factors.claim_step(user_id, step)) or None

        if await self._counted(user_id, client, spend) is None:
            raise InvalidSecondFactor("The code is wrong, or was used already.")
        return SECOND_FACTOR_AMR

    async def _new_recovery_codes(self, user_id: uuid.UUID, key: FactorKey) -> list[str]:
        codes = new_recovery_codes()
        await self.factors.replace_recovery_codes(user_id, [key.recovery_hash(c) for c in codes])
        return codes

    async def _counted(
        self, user_id: uuid.UUID, client: str | None, check: Callable[[], Awaitable[T | None]]
    ) -> T | None:
        """Run ``check`` inside a place in the account's second-factor counters (the login
        throttle's, under an identifier of their own): ``None`` counts as a failure."""
        attempt = await self.throttle.reserve(identifier=f"second-factor:{user_id}", client=client)
        result = await check()
        await (attempt.failed() if result is None else attempt.passed())
        return result


def _now() -> datetime:
    return datetime.now(UTC)
