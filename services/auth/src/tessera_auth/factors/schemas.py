from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tessera_core.schemas import Text

__all__ = [
    "CeremonyOptions",
    "FactorStatus",
    "PasskeyAnswer",
    "PasskeyLoginOptionsRequest",
    "PasskeyRead",
    "PasskeyRegistration",
    "PasskeyRename",
    "PasswordProof",
    "RecoveryCodes",
    "SecondFactorAnswer",
    "StepUpProof",
    "TotpCode",
    "TotpEnrollment",
]

CODE_EXAMPLE = "492039"
RECOVERY_EXAMPLE = "k7mpq-x3vha"


class FactorStatus(BaseModel):
    totp_enabled: bool = Field(description="a confirmed TOTP: every login needs a code")
    totp_pending: bool = Field(description="enrolled, waiting for its first code")
    recovery_codes_left: int
    passkeys: int = Field(description="passkeys registered: each signs in alone too")


# A WebAuthn JSON object (PublicKeyCredential.toJSON()), checked by the library.
Credential = dict[str, Any]


class CeremonyOptions(BaseModel):
    ceremony: str = Field(description="send it back with the authenticator's response")
    public_key: dict[str, Any] = Field(
        description="options for navigator.credentials.create() or .get(), in WebAuthn's "
        "JSON form (PublicKeyCredential.parseCreationOptionsFromJSON / ...RequestOptions...)"
    )


class PasskeyRegistration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ceremony: Text = Field(min_length=1, max_length=128)
    credential: Credential
    name: Text = Field("Passkey", min_length=1, max_length=64, examples=["Laptop"])


class PasskeyRename(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Text = Field(min_length=1, max_length=64)


class PasskeyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    created_at: datetime
    last_used_at: datetime | None
    backed_up: bool = Field(description="synced by its provider to the owner's other devices")


class PasskeyAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ceremony: Text = Field(min_length=1, max_length=128)
    credential: Credential


class PasskeyLoginOptionsRequest(BaseModel):
    """Empty to sign in with a passkey alone; a password login's ``challenge`` for its
    second step."""

    model_config = ConfigDict(extra="forbid")

    challenge: Text | None = Field(None, min_length=1, max_length=128)


class PasswordProof(BaseModel):
    model_config = ConfigDict(extra="forbid")

    password: Text = Field(min_length=1, max_length=1024)


class TotpEnrollment(BaseModel):
    secret: str = Field(description="base32, for typing into an app that cannot scan")
    otpauth_uri: str = Field(examples=["otpauth://totp/Tessera:alice?secret=...&issuer=Tessera"])
    qr_svg: str = Field(description="the URI as an SVG QR code")


class TotpCode(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Text = Field(min_length=1, max_length=16, examples=[CODE_EXAMPLE])


class RecoveryCodes(BaseModel):
    recovery_codes: list[str] = Field(
        description="single-use; shown this once, stored only hashed", examples=[[RECOVERY_EXAMPLE]]
    )


class _OneCode(BaseModel):
    """Exactly one of the answers named in ``ANSWERS``: a TOTP code or a recovery code."""

    model_config = ConfigDict(extra="forbid")
    ANSWERS: ClassVar[tuple[str, ...]] = ("code", "recovery_code")

    code: Text | None = Field(None, min_length=1, max_length=16, examples=[CODE_EXAMPLE])
    recovery_code: Text | None = Field(
        None, min_length=1, max_length=32, examples=[RECOVERY_EXAMPLE]
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> _OneCode:
        given = [name for name in self.ANSWERS if getattr(self, name) is not None]
        if len(given) != 1:
            *first, last = self.ANSWERS
            raise ValueError(f"send exactly one of {', '.join(first)} and {last}")
        return self


class SecondFactorAnswer(_OneCode):
    """A password login's challenge and exactly one answer to it."""

    ANSWERS: ClassVar[tuple[str, ...]] = ("code", "recovery_code", "passkey")

    challenge: Text = Field(min_length=1, max_length=128)
    passkey: PasskeyAnswer | None = None


class StepUpProof(_OneCode):
    """The password and a current code: what removing a factor or replacing the recovery
    codes asks for, so a stolen access token alone cannot do either."""

    password: Text = Field(min_length=1, max_length=1024)
