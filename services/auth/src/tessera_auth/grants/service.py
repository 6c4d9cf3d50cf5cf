"""The grants: the two ways to a token pair (RFC 6749 §4.3 password, §6 refresh token),
written once for ``/login``, ``/refresh`` and ``/token``; and RFC 7009 revocation."""

from __future__ import annotations

from dataclasses import dataclass

from tessera_auth.accounts import service as accounts_service
from tessera_auth.client import ClientInfo
from tessera_auth.sessions import service as sessions_service
from tessera_auth.sessions.repository import LoginSessionRepository
from tessera_auth.state import AuthState
from tessera_auth.tokens.schemas import TokenPair
from tessera_core.accounts.repository import UserRepository
from tessera_core.errors import InvalidToken
from tessera_core.revocation import Revocations, RevocationStore
from tessera_core.settings import Settings
from tessera_core.tokens import TokenVerifier, hash_opaque_token

__all__ = ["RefreshGrant", "TokenGrants"]


@dataclass(frozen=True)
class RefreshGrant:
    """The refresh-token grant (RFC 6749 §6) with only what it needs: the busiest write,
    so it opens no unit of work, only the rotation's two statements."""

    sessions: LoginSessionRepository
    revocation: RevocationStore
    auth: AuthState
    settings: Settings

    async def refresh(self, refresh_token: str) -> TokenPair:
        """Spend a refresh token for the next pair of its session."""
        return await sessions_service.rotate(
            self.sessions, self.auth.issuer, self.revocation, self.settings, refresh_token
        )


@dataclass(frozen=True)
class TokenGrants:
    """One request's grants, with the collaborators they need."""

    users: UserRepository
    sessions: LoginSessionRepository
    refresh_grant: RefreshGrant
    revocations: Revocations
    verifier: TokenVerifier
    auth: AuthState
    settings: Settings

    async def password(self, *, login: str, password: str, client: ClientInfo) -> TokenPair:
        """Authenticate, then start a login session: its first token pair."""
        user = await accounts_service.authenticate(
            self.users,
            self.auth.hasher,
            self.auth.throttle,
            login=login,
            password=password,
            client=client.ip,
            require_verified=self.settings.require_verified_email,
        )
        return await sessions_service.start(
            self.sessions, self.auth.issuer, self.settings, user, client
        )

    async def refresh(self, refresh_token: str) -> TokenPair:
        """Spend a refresh token for the next pair of its session."""
        return await self.refresh_grant.refresh(refresh_token)

    async def revoke(self, token: str) -> None:
        """Revoke a refresh token's session, or a single access token; anything else is
        ignored (RFC 7009 §2.2). The ``token_type_hint`` only orders a lookup (§2.1), and
        both kinds are searched whatever it says, so a wrong hint still revokes."""
        refresh = await self.sessions.refresh_token_for_update(hash_opaque_token(token))
        if refresh is not None:
            await self.revocations.revoke_session(refresh.session_id, reason="revoked")
            return
        if token.count(".") != 2:
            return
        try:
            claims = await self.verifier.verify_signed(token)
        except InvalidToken:
            return
        await self.revocations.revoke_access_token(claims)
