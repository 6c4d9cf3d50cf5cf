"""Mints RFC 9068 access tokens (refresh tokens are ``tessera_core.tokens.new_opaque_token``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from tessera_auth.keys.keystore import KeyStore
from tessera_core.db.models import LoginSession, User, roles_of
from tessera_core.settings import Settings
from tessera_core.tokens.scopes import format_scope, parse_scope, scopes_of_roles

__all__ = ["AccessTokenIssuer", "TokenSubject"]


@dataclass(frozen=True, slots=True)
class TokenSubject:
    """Whom an access token speaks for, and in which login session."""

    user_id: uuid.UUID
    username: str
    is_admin: bool
    email_verified: bool
    session_id: uuid.UUID
    client_id: str
    # When the login was proved (``auth_time``); None for a personal access token's session,
    # whose tokens prove no login, so step-up refuses them.
    session_started: datetime | None
    # How the login was proved (RFC 8176): ("pwd",), or ("pwd", "otp", "mfa") and the like.
    amr: tuple[str, ...] = ("pwd",)
    # The session's narrowed scope (``login_session.scope``); None: all the roles allow.
    scope: str | None = None
    # A service account's (``roles: ["service"]``); its scopes are its own, within users:*.
    is_service: bool = False

    @property
    def scopes(self) -> frozenset[str]:
        """What the token may do: the session's scope within what the roles allow *now*,
        so a refresh after a demotion cannot keep a scope the user lost."""
        allowed = scopes_of_roles(roles_of(is_admin=self.is_admin, is_service=self.is_service))
        return allowed if self.scope is None else parse_scope(self.scope) & allowed

    @classmethod
    def of(cls, user: User, login: LoginSession) -> TokenSubject:
        return cls(
            user_id=user.id,
            username=user.username,
            is_admin=user.is_admin,
            email_verified=user.email_verified,
            session_id=login.id,
            client_id=login.client_id,
            session_started=login.created_at,
            amr=tuple(login.amr),
            scope=login.scope,
        )


class AccessTokenIssuer:
    def __init__(self, keys: KeyStore, settings: Settings) -> None:
        self.keys = keys
        self.settings = settings

    def issue(self, subject: TokenSubject, now: datetime, *, ttl_seconds: int | None = None) -> str:
        """A signed access token for ``subject``, living ``ttl_seconds`` (at most, and by
        default, ``TESSERA_ACCESS_TOKEN_TTL_SECONDS``)."""
        issued_at = int(now.timestamp())
        ttl = self.settings.access_token_ttl_seconds
        if ttl_seconds is not None:
            ttl = min(ttl, ttl_seconds)
        claims: dict[str, object] = {
            "iss": self.settings.issuer,
            "aud": self.settings.audience,
            "sub": str(subject.user_id),
            "exp": issued_at + ttl,
            "iat": issued_at,
            "nbf": issued_at,
            "jti": uuid.uuid4().hex,
            "sid": str(subject.session_id),
            "client_id": subject.client_id,
            "preferred_username": subject.username,
            "roles": roles_of(is_admin=subject.is_admin, is_service=subject.is_service),
            "email_verified": subject.email_verified,
            "amr": list(subject.amr),
            "scope": format_scope(subject.scopes),
        }
        if subject.session_started is not None:
            claims["auth_time"] = int(subject.session_started.timestamp())
        return self.keys.sign(claims)
