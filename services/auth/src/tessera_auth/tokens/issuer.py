"""Mints RFC 9068 access tokens (refresh tokens are ``tessera_core.tokens.new_opaque_token``)."""

from __future__ import annotations

import uuid
from datetime import datetime

from tessera_auth.keys.keystore import KeyStore
from tessera_core.models import LoginSession, User
from tessera_core.settings import Settings


class AccessTokenIssuer:
    def __init__(self, keys: KeyStore, settings: Settings) -> None:
        self.keys = keys
        self.settings = settings

    def issue(self, user: User, login: LoginSession, now: datetime) -> str:
        issued_at = int(now.timestamp())
        claims = {
            "iss": self.settings.issuer,
            "aud": self.settings.audience,
            "sub": str(user.id),
            "exp": issued_at + self.settings.access_token_ttl_seconds,
            "iat": issued_at,
            "nbf": issued_at,
            "jti": uuid.uuid4().hex,
            "sid": str(login.id),
            "client_id": login.client_id,
            "preferred_username": user.username,
            "roles": user.roles,
            "email_verified": user.email_verified,
            "auth_time": int(login.created_at.timestamp()),
        }
        return self.keys.sign(claims)
