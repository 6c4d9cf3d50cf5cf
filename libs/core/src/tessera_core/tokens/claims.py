"""The claims of a verified RFC 9068 access token."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tessera_core.tokens.scopes import effective_scopes, format_scope

__all__ = [
    "ACCESS_TOKEN_TYPE",
    "AccessClaims",
]

ACCESS_TOKEN_TYPE = "at+jwt"


@dataclass(frozen=True, slots=True)
class AccessClaims:
    sub: str
    sid: str
    jti: str
    iss: str
    exp: int
    iat: int
    client_id: str
    preferred_username: str
    roles: list[str] = field(default_factory=list)
    email_verified: bool = False
    # When and how the login this token descends from was proved (RFC 9068 §2.2.1, RFC
    # 8176): what step-up (tessera_core.accounts.step_up) asks of a sensitive change.
    auth_time: int | None = None
    amr: tuple[str, ...] = ()
    # What the token may do (tessera_core.tokens.scopes): its ``scope`` claim within what
    # its roles allow; all of that for a token minted before scopes, which has no claim.
    scopes: frozenset[str] = frozenset()
    # ``scopes`` as an RFC 6749 ``scope`` string, in the vocabulary's order (``/verify``
    # sends it on every request; the verifier keeps the claims of a token it has seen).
    scope: str = ""

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def manages_users(self) -> bool:
        """Whether the token's principal may act on other accounts (within its scopes): an
        administrator, or a service account."""
        return "admin" in self.roles or "service" in self.roles

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> AccessClaims:
        """Build from a verified payload; ``KeyError``/``TypeError``/``ValueError`` if malformed."""
        roles = payload.get("roles", [])
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise ValueError("roles must be a list of strings")
        values = {
            name: payload[name]
            for name in ("sub", "sid", "jti", "iss", "client_id", "preferred_username")
        }
        if not all(isinstance(v, str) and v for v in values.values()):
            raise ValueError("string claims must be non-empty strings")
        exp, iat = payload["exp"], payload["iat"]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (exp, iat)):
            raise ValueError("exp and iat must be integers")
        email_verified = payload.get("email_verified", False)
        if not isinstance(email_verified, bool):
            raise ValueError("email_verified must be a boolean")
        auth_time = payload.get("auth_time")
        if auth_time is not None and (
            not isinstance(auth_time, int) or isinstance(auth_time, bool)
        ):
            raise ValueError("auth_time must be an integer")
        amr = payload.get("amr", [])
        if not isinstance(amr, list) or not all(isinstance(m, str) for m in amr):
            raise ValueError("amr must be a list of strings")
        scope = payload.get("scope")
        if scope is not None and not isinstance(scope, str):
            raise ValueError("scope must be a string")
        return cls(
            exp=exp,
            iat=iat,
            roles=roles,
            email_verified=email_verified,
            auth_time=auth_time,
            amr=tuple(amr),
            scopes=(scopes := effective_scopes(scope, roles)),
            scope=format_scope(scopes),
            **values,
        )
