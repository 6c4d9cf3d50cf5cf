from __future__ import annotations

from tessera_core.errors import Conflict, TesseraError

__all__ = [
    "EmailAlreadyVerified",
    "InvalidResetToken",
    "InvalidVerificationToken",
    "ResetTokenExpired",
    "ResetTokenUsed",
    "VerificationTokenExpired",
    "VerificationTokenUsed",
]


class InvalidResetToken(TesseraError):
    status = 400
    code = "invalid_reset_token"
    title = "Invalid password-reset token"


class ResetTokenUsed(TesseraError):
    status = 400
    code = "reset_token_used"
    title = "Password-reset token already used"


class ResetTokenExpired(TesseraError):
    status = 400
    code = "reset_token_expired"
    title = "Password-reset token expired"


class InvalidVerificationToken(TesseraError):
    status = 400
    code = "invalid_verification_token"
    title = "Invalid email-verification token"


class VerificationTokenUsed(TesseraError):
    status = 400
    code = "verification_token_used"
    title = "Email-verification token already used"


class VerificationTokenExpired(TesseraError):
    status = 400
    code = "verification_token_expired"
    title = "Email-verification token expired"


class EmailAlreadyVerified(Conflict):
    code = "email_already_verified"
    title = "Email already verified"
