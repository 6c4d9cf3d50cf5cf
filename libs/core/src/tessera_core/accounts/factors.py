"""The second-factor tables' one repository (both services read it): an account's TOTP secret
and its recovery codes, in the unit of work."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, exists, func, insert, select, update

from tessera_core.db.models import Passkey, RecoveryCode, TotpFactor
from tessera_core.db.unit_of_work import UnitOfWork

__all__ = ["FactorRepository"]

# The row's lock orders concurrent uses of one account's codes: the second waits for the
# first to commit and then finds its step no longer newer than the last one used.
CLAIM_STEP_SQL = """
    UPDATE totp_factor SET last_step = %(step)s
    WHERE user_id = %(user_id)s AND confirmed_at IS NOT NULL
      AND (last_step IS NULL OR last_step < %(step)s)
"""
CONFIRM_SQL = """
    UPDATE totp_factor SET confirmed_at = %(now)s, last_step = %(step)s
    WHERE user_id = %(user_id)s AND confirmed_at IS NULL
"""
SPEND_RECOVERY_CODE_SQL = """
    UPDATE recovery_code SET used_at = %(now)s
    WHERE user_id = %(user_id)s AND code_hash = %(code_hash)s AND used_at IS NULL
"""


class FactorRepository:
    def __init__(self, work: UnitOfWork) -> None:
        self.work = work

    async def totp(self, user_id: uuid.UUID) -> TotpFactor | None:
        return await self.work.session.get(TotpFactor, user_id)

    async def second_factors(self, user_id: uuid.UUID) -> tuple[bool, bool]:
        """Whether the account has a confirmed TOTP, and whether it has a passkey: one
        round trip."""
        confirmed_totp, passkey = (
            await self.work.session.execute(
                select(
                    exists().where(
                        TotpFactor.user_id == user_id, TotpFactor.confirmed_at.is_not(None)
                    ),
                    exists().where(Passkey.user_id == user_id),
                )
            )
        ).one()
        return bool(confirmed_totp), bool(passkey)

    async def has_second_factor(self, user_id: uuid.UUID) -> bool:
        """Whether a login of this account needs a second factor (a confirmed TOTP, or a
        passkey)."""
        return any(await self.second_factors(user_id))

    async def passkeys(self, user_id: uuid.UUID) -> Sequence[Passkey]:
        return (
            await self.work.session.scalars(
                select(Passkey).where(Passkey.user_id == user_id).order_by(Passkey.created_at)
            )
        ).all()

    async def passkey(self, user_id: uuid.UUID, passkey_id: uuid.UUID) -> Passkey | None:
        found = await self.work.session.get(Passkey, passkey_id)
        return found if found is not None and found.user_id == user_id else None

    async def passkey_by_credential(self, credential_id: bytes) -> Passkey | None:
        return await self.work.session.scalar(
            select(Passkey).where(Passkey.credential_id == credential_id)
        )

    async def add_passkey(self, passkey: Passkey) -> Passkey:
        self.work.session.add(passkey)
        await self.work.session.flush()
        await self.work.session.refresh(passkey)
        return passkey

    async def remove_passkey(self, passkey: Passkey) -> None:
        await self.work.session.delete(passkey)
        await self.work.session.flush()

    async def record_passkey_use(
        self, passkey: Passkey, sign_count: int, backed_up: bool, now: datetime
    ) -> bool:
        """Store the counter an assertion reported, only if the stored one is still the one
        it was checked against: of two assertions checked against one counter, one counts
        and the other is refused (a cloned authenticator's replay, or a race)."""
        result = await self.work.session.execute(
            update(Passkey)
            .where(Passkey.id == passkey.id, Passkey.sign_count == passkey.sign_count)
            .values(sign_count=sign_count, backed_up=backed_up, last_used_at=now)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def start_totp(self, user_id: uuid.UUID, sealed: bytes) -> None:
        """A new unconfirmed secret, replacing an earlier unconfirmed one."""
        await self.work.session.execute(
            delete(TotpFactor).where(
                TotpFactor.user_id == user_id, TotpFactor.confirmed_at.is_(None)
            )
        )
        await self.work.session.execute(
            insert(TotpFactor).values(user_id=user_id, secret_sealed=sealed)
        )

    async def confirm_totp(self, user_id: uuid.UUID, step: int, now: datetime) -> bool:
        cursor = await self.work.execute(
            CONFIRM_SQL, {"user_id": user_id, "step": step, "now": now}
        )
        return cursor.rowcount == 1

    async def claim_step(self, user_id: uuid.UUID, step: int) -> bool:
        """Record ``step`` as used, if it is newer than the last one: False for a replay."""
        cursor = await self.work.execute(CLAIM_STEP_SQL, {"user_id": user_id, "step": step})
        return cursor.rowcount == 1

    async def remove_totp(self, user_id: uuid.UUID) -> None:
        await self.work.session.execute(delete(TotpFactor).where(TotpFactor.user_id == user_id))
        await self.work.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))

    async def remove_all(self, user_id: uuid.UUID) -> bool:
        """Delete the account's TOTP (confirmed or pending), recovery codes and passkeys;
        whether there was a TOTP or a passkey to delete."""
        await self.work.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
        removed = 0
        for table in (TotpFactor, Passkey):
            result = await self.work.session.execute(delete(table).where(table.user_id == user_id))
            removed += result.rowcount  # type: ignore[attr-defined]
        return removed > 0

    async def replace_recovery_codes(self, user_id: uuid.UUID, hashes: list[bytes]) -> None:
        await self.work.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
        await self.work.session.execute(
            insert(RecoveryCode), [{"user_id": user_id, "code_hash": h} for h in hashes]
        )

    async def spend_recovery_code(
        self, user_id: uuid.UUID, code_hash: bytes, now: datetime
    ) -> bool:
        """Mark the unused code with this hash used: False if there is none (wrong, or used)."""
        cursor = await self.work.execute(
            SPEND_RECOVERY_CODE_SQL, {"user_id": user_id, "code_hash": code_hash, "now": now}
        )
        return cursor.rowcount == 1

    async def recovery_codes_left(self, user_id: uuid.UUID) -> int:
        left = await self.work.session.scalar(
            select(func.count())
            .select_from(RecoveryCode)
            .where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
        )
        return int(left or 0)
