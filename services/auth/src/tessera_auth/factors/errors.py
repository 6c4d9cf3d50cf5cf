from __future__ import annotations

from typing import Any

from tessera_core.errors import Conflict, Forbidden, NotFound, ServiceUnavailable, TesseraError

__all__ = [
    "InvalidChallenge",
    "InvalidCode",
    "InvalidPasskey",
    "InvalidSecondFactor",
    "NoPendingTotp",
    "PasskeyNotFound",
    "SecondFactorRequired",
    "SecondFactorsUnavailable",
    "TotpAlreadyEnabled",
    "TotpNotEnabled",
]


class SecondFactorRequired(Forbidden):
    """The password was right, and the account has a second factor: no tokens yet, a
    challenge to answer at ``POST /api/v1/auth/login/second-factor`` instead. Told only to
    whoever proved the password, so it says nothing to anyone else."""

    code = "second_factor_required"
    title = "Second factor required"
    # RFC 6749 has no word for it; this is the one clients of other servers know (Auth0).
    oauth_error = "mfa_required"

    def __init__(self, challenge: str, methods: list[str], expires_in: int) -> None:
        super().__init__("Answer the challenge with a code from one of the account's factors.")
        self.challenge = challenge
        self.methods = methods
        self.expires_in = expires_in

    def extensions(self) -> dict[str, Any]:
        return {
            "challenge": self.challenge,
            "methods": self.methods,
            "expires_in": self.expires_in,
            # The name OAuth clients of Auth0 read it under.
            "mfa_token": self.challenge,
        }


class InvalidChallenge(TesseraError):
    """A challenge that is unknown, expired, answered already, or out of attempts: the login
    starts again with the password."""

    status = 401
    code = "invalid_challenge"
    title = "Invalid or expired challenge"


class InvalidSecondFactor(TesseraError):
    """A code that does not answer the challenge: wrong, used already, or from another step."""

    status = 401
    code = "invalid_second_factor"
    title = "Invalid second factor"


class InvalidCode(TesseraError):
    """A code that does not prove the factor being set up or changed."""

    status = 400
    code = "invalid_code"
    title = "Invalid code"


class TotpAlreadyEnabled(Conflict):
    code = "totp_already_enabled"
    title = "TOTP is already enabled"


class NoPendingTotp(Conflict):
    code = "no_pending_totp"
    title = "No TOTP enrollment to confirm"


class TotpNotEnabled(Conflict):
    code = "totp_not_enabled"
    title = "TOTP is not enabled"


class SecondFactorsUnavailable(ServiceUnavailable):
    code = "second_factors_unavailable"
    title = "Second factors are not configured"


class InvalidPasskey(TesseraError):
    """A WebAuthn response that does not verify: another origin or relying party, a
    ceremony unknown, expired or used, a bad signature, a signature counter gone back, a
    credential this server does not know, or no user verification where it is required."""

    status = 401
    code = "invalid_passkey"
    title = "Invalid passkey response"


class PasskeyNotFound(NotFound):
    code = "passkey_not_found"
    title = "Passkey not found"
