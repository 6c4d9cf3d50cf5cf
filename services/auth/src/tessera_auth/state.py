"""What the auth service holds while it runs: built once in the lifespan, typed, and seen by
every request as ``request.state``."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from joserfc.jwk import KeySet

from tessera_auth.keys.keystore import KeyStore
from tessera_auth.tokens.issuer import AccessTokenIssuer
from tessera_core.accounts.passwords import PasswordHasher
from tessera_core.accounts.throttle import LoginThrottle, RequestLimit
from tessera_core.mail import MailTemplates, RecipientBudget
from tessera_core.outbound import FetchedCache, OutboundClient
from tessera_core.web.runtime import CoreLifespanState

__all__ = ["AuthLifespanState", "AuthState"]


@dataclass(frozen=True)
class AuthState:
    keys: KeyStore
    hasher: PasswordHasher
    throttle: LoginThrottle
    issuer: AccessTokenIssuer
    common_passwords: frozenset[str]
    oauth_metadata: dict[str, Any]
    mail_templates: MailTemplates
    forgot_limit: RequestLimit
    resend_limit: RequestLimit
    register_limit: RequestLimit
    mail_budget: RecipientBudget
    # Requests to URLs others register, and the service accounts' key sets fetched from
    # their jwks_uri through it (tessera_auth.clients.keys), per worker.
    outbound: OutboundClient
    client_key_sets: FetchedCache[KeySet]
    # Set once the configured bootstrap admin exists (or none is configured): until then
    # the service is not ready, so nobody is told to sign in with an account not yet there.
    admin_bootstrapped: asyncio.Event = field(default_factory=asyncio.Event)


class AuthLifespanState(CoreLifespanState):
    auth: AuthState
