from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from tessera_core.errors import OAUTH_ERROR_REF, PROBLEM_JSON
from tessera_core.schemas import Text

__all__ = ["MFA_REQUIRED", "SECOND_FACTOR_REQUIRED", "LoginRequest"]

_CHALLENGE_MEMBERS: dict[str, Any] = {
    "challenge": {"type": "string", "description": "send it to /login/second-factor"},
    "methods": {
        "type": "array",
        "items": {"type": "string", "enum": ["totp", "recovery_code"]},
    },
    "expires_in": {"type": "integer", "description": "seconds the challenge lives"},
    "mfa_token": {"type": "string", "description": "the challenge again, as Auth0 names it"},
}
_CHALLENGE_EXAMPLE = {
    "challenge": "q3V1...",
    "methods": ["totp", "recovery_code"],
    "expires_in": 300,
    "mfa_token": "q3V1...",
}
# /login: the account has a second factor (or its email is unverified, the other 403).
SECOND_FACTOR_REQUIRED: dict[str, Any] = {
    "description": "`second_factor_required` (with a `challenge`), `email_not_verified`",
    "content": {
        PROBLEM_JSON: {
            "schema": {
                "allOf": [
                    {"$ref": "#/components/schemas/Problem"},
                    {"type": "object", "properties": _CHALLENGE_MEMBERS},
                ]
            },
            "example": {
                "type": "https://tessera.dev/problems/second-factor-required",
                "title": "Second factor required",
                "status": 403,
                "detail": "Answer the challenge with a code from one of the account's factors.",
                "code": "second_factor_required",
                **_CHALLENGE_EXAMPLE,
            },
        }
    },
}
# /token, password grant: the same, in RFC 6749 form.
MFA_REQUIRED: dict[str, Any] = {
    "description": "`mfa_required`: the account has a second factor; answer the challenge "
    "(`mfa_token`) at `POST /api/v1/auth/login/second-factor`",
    "content": {
        "application/json": {
            "schema": {
                "allOf": [
                    OAUTH_ERROR_REF,
                    {"type": "object", "properties": _CHALLENGE_MEMBERS},
                ]
            },
            "example": {
                "error": "mfa_required",
                "error_description": "Answer the challenge with a code from one of the "
                "account's factors.",
                **_CHALLENGE_EXAMPLE,
            },
        }
    },
}


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Text = Field(min_length=1, max_length=254, description="username or email")
    password: Text = Field(min_length=1, max_length=1024)
