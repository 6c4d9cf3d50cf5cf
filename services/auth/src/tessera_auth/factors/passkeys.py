"""The rules of passkeys (WebAuthn Level 3, by py_webauthn): registering several per account
behind the password, naming and removing them, and signing in with one, alone (a
discoverable credential, user verification required) or as the second factor of a
password login."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import webauthn
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from tessera_auth.factors.ceremonies import Ceremonies, Ceremony
from tessera_auth.factors.errors import InvalidPasskey, PasskeyNotFound
from tessera_core.accounts.factors import FactorRepository
from tessera_core.db.models import Passkey, User
from tessera_core.mail import AccountMail
from tessera_core.revocation import Revocations
from tessera_core.settings import Settings

__all__ = ["PASSKEY_AMR", "PASSKEY_SECOND_FACTOR_AMR", "Passkeys"]

# RFC 8176: a hardware-bound key, and the user verified by it (PIN or biometrics): two
# factors in one gesture. As the second step of a password login: the password too.
PASSKEY_AMR = ("hwk", "user", "mfa")
PASSKEY_SECOND_FACTOR_AMR = ("pwd", "hwk", "mfa")
# What a malformed response makes the library raise besides its own errors.
_MALFORMED = (WebAuthnException, KeyError, TypeError, ValueError)


@dataclass(frozen=True)
class Passkeys:
    factors: FactorRepository
    ceremonies: Ceremonies
    settings: Settings

    def _options(self, options: Any) -> dict[str, Any]:
        public_key: dict[str, Any] = json.loads(webauthn.options_to_json(options))
        return public_key

    async def registration_options(self, user: User) -> tuple[str, dict[str, Any]]:
        """A ceremony and its ``PublicKeyCredentialCreationOptions`` (JSON form): a
        discoverable credential, not one the account has already."""
        existing = await self.factors.passkeys(user.id)
        options = webauthn.generate_registration_options(
            rp_id=self.settings.webauthn_rp_id,
            rp_name=self.settings.webauthn_rp_name,
            user_id=user.id.bytes,
            user_name=user.username,
            user_display_name=user.nickname or user.username,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.REQUIRED,
                user_verification=UserVerificationRequirement.REQUIRED,
            ),
            exclude_credentials=[
                PublicKeyCredentialDescriptor(id=p.credential_id) for p in existing
            ],
        )
        ceremony = await self.ceremonies.begin(Ceremony("register", options.challenge, user.id))
        return ceremony, self._options(options)

    async def register(
        self,
        user: User,
        ceremony_id: str,
        credential: dict[str, Any],
        name: str,
        revocations: Revocations,
        mail: AccountMail,
        keep_session: uuid.UUID,
    ) -> Passkey:
        """Verify the new credential and keep it; the account's other sessions end and its
        address is told, as for any new factor."""
        ceremony = await self.ceremonies.take(ceremony_id, "register")
        if ceremony.user_id != user.id:
            raise InvalidPasskey("This ceremony was started for another account.")
        try:
            verified = webauthn.verify_registration_response(
                credential=credential,
                expected_challenge=ceremony.challenge,
                expected_rp_id=self.settings.webauthn_rp_id,
                expected_origin=self.settings.webauthn_origins,
                require_user_verification=True,
            )
        except _MALFORMED as exc:
            raise InvalidPasskey(f"The new passkey does not verify: {exc}") from exc
        if await self.factors.passkey_by_credential(verified.credential_id) is not None:
            raise InvalidPasskey("This passkey is registered already.")
        passkey = await self.factors.add_passkey(
            Passkey(
                user_id=user.id,
                credential_id=verified.credential_id,
                public_key=verified.credential_public_key,
                sign_count=verified.sign_count,
                backed_up=verified.credential_backed_up,
                name=name,
            )
        )
        await revocations.revoke_other_sessions(user.id, keep=keep_session, reason="factor_added")
        await mail.second_factor_changed(user, f"A passkey named “{name}” was added.")
        return passkey

    async def listed(self, user_id: uuid.UUID) -> Sequence[Passkey]:
        return await self.factors.passkeys(user_id)

    async def rename(self, user_id: uuid.UUID, passkey_id: uuid.UUID, name: str) -> Passkey:
        passkey = await self._own(user_id, passkey_id)
        passkey.name = name
        await self.factors.work.session.flush()
        return passkey

    async def remove(
        self,
        user: User,
        passkey_id: uuid.UUID,
        revocations: Revocations,
        mail: AccountMail,
        keep_session: uuid.UUID,
    ) -> None:
        passkey = await self._own(user.id, passkey_id)
        await self.factors.remove_passkey(passkey)
        await revocations.revoke_other_sessions(user.id, keep=keep_session, reason="factor_removed")
        await mail.second_factor_changed(user, f"The passkey named “{passkey.name}” was removed.")

    async def _own(self, user_id: uuid.UUID, passkey_id: uuid.UUID) -> Passkey:
        passkey = await self.factors.passkey(user_id, passkey_id)
        if passkey is None:
            raise PasskeyNotFound("No passkey of yours has this id.")
        return passkey

    async def login_options(
        self, *, user_id: uuid.UUID | None = None, login_challenge: str | None = None
    ) -> tuple[str, dict[str, Any]]:
        """A sign-in ceremony: for anyone's discoverable passkey (no username typed), or,
        as a password login's second step, for the passkeys of that login's account."""
        allowed = (
            [
                PublicKeyCredentialDescriptor(id=p.credential_id)
                for p in await self.factors.passkeys(user_id)
            ]
            if user_id is not None
            else None
        )
        options = webauthn.generate_authentication_options(
            rp_id=self.settings.webauthn_rp_id,
            allow_credentials=allowed,
            user_verification=UserVerificationRequirement.REQUIRED
            if user_id is None
            else UserVerificationRequirement.PREFERRED,
        )
        kind = "login" if user_id is None else "second-factor"
        ceremony = await self.ceremonies.begin(
            Ceremony(kind, options.challenge, user_id, login_challenge)
        )
        return ceremony, self._options(options)

    async def verify_assertion(self, ceremony: Ceremony, credential: dict[str, Any]) -> Passkey:
        """The passkey an assertion proves, its counter stored; ``InvalidPasskey``
        otherwise. A passkey alone must have verified its user (PIN, biometrics)."""
        raw_id = credential.get("rawId") if isinstance(credential, dict) else None
        try:
            credential_id = webauthn.base64url_to_bytes(raw_id) if isinstance(raw_id, str) else b""
        except _MALFORMED as exc:
            raise InvalidPasskey("The passkey response is malformed.") from exc
        passkey = await self.factors.passkey_by_credential(credential_id)
        if passkey is None or (
            ceremony.user_id is not None and passkey.user_id != ceremony.user_id
        ):
            raise InvalidPasskey("This passkey is not registered here.")
        try:
            verified = webauthn.verify_authentication_response(
                credential=credential,
                expected_challenge=ceremony.challenge,
                expected_rp_id=self.settings.webauthn_rp_id,
                expected_origin=self.settings.webauthn_origins,
                credential_public_key=passkey.public_key,
                credential_current_sign_count=passkey.sign_count,
                require_user_verification=ceremony.kind == "login",
            )
        except _MALFORMED as exc:
            raise InvalidPasskey(f"The passkey response does not verify: {exc}") from exc
        if not await self.factors.record_passkey_use(
            passkey, verified.new_sign_count, verified.credential_backed_up, datetime.now(UTC)
        ):
            raise InvalidPasskey("This passkey was used at the same moment: try again.")
        return passkey
