from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tessera_core.schemas import Text

__all__ = [
    "FactorStatus",
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
    """Exactly one of a TOTP code and a recovery code."""

    model_config = ConfigDict(extra="forbid")

    code: Text | None = Field(None, min_length=1, max_length=16, examples=[CODE_EXAMPLE])
    recovery_code: Text | None = Field(
        None, min_length=1, max_length=32, examples=[RECOVERY_EXAMPLE]
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> _OneCode:
        if (self.code is None) == (self.recovery_code is None):
            raise ValueError("send exactly one of code and recovery_code")
        return self


class SecondFactorAnswer(_OneCode):
    challenge: Text = Field(min_length=1, max_length=128)


class StepUpProof(_OneCode):
    """The password and a current code: what removing a factor or replacing the recovery
    codes asks for, so a stolen access token alone cannot do either."""

    password: Text = Field(min_length=1, max_length=1024)
