"""The grants: the two ways to a token pair (RFC 6749 §4.3 password, §6 refresh token),
written once for ``/login``, ``/refresh`` and ``/token``; the token exchange of a personal
access token (RFC 8693); and RFC 7009 revocation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tessera_auth.accounts import service as accounts_service
from tessera_auth.accounts.errors import EmailNotVerified
from tessera_auth.client import ClientInfo
from tessera_auth.factors.ceremonies import Ceremony
from tessera_auth.factors.challenges import LoginChallenges
from tessera_auth.factors.errors import InvalidChallenge, InvalidPasskey, SecondFactorRequired
from tessera_auth.factors.passkeys import PASSKEY_AMR, PASSKEY_SECOND_FACTOR_AMR, Passkeys
from tessera_auth.factors.schemas import PasskeyAnswer
from tessera_auth.factors.service import Factors
from tessera_auth.pats import service as pats_service
from tessera_auth.pats.service import ExchangedToken
from tessera_auth.sessions import service as sessions_service
from tessera_auth.sessions.repository import LoginSessionRepository
from tessera_auth.state import AuthState
from tessera_auth.tokens.schemas import TokenPair
from tessera_core.accounts.repository import UserRepository
from tessera_core.db.models import roles_of
from tessera_core.errors import InvalidToken, OAuthError
from tessera_core.revocation import Revocations, RevocationStore
from tessera_core.settings import Settings
from tessera_core.tokens import TokenVerifier, hash_opaque_token
from tessera_core.tokens.scopes import SCOPES, format_scope, narrowed, scopes_of_roles

__all__ = ["RefreshGrant", "TokenGrants"]


@dataclass(frozen=True)
class RefreshGrant:
    """The refresh-token grant (RFC 6749 §6) with only what it needs: the busiest write,
    so it opens no unit of work, only the rotation's two statements."""

    sessions: LoginSessionRepository
    revocation: RevocationStore
    auth: AuthState
    settings: Settings

    async def refresh(self, refresh_token: str, scope: str | None = None) -> TokenPair:
        """Spend a refresh token for the next pair of its session, its access token
        narrowed to ``scope`` if asked (RFC 6749 §6; unknown or malformed: ``invalid_scope``)."""
        narrower = None
        if scope is not None and scope.strip(" "):
            narrower = narrowed(scope, frozenset(SCOPES))
            if narrower is None:
                raise OAuthError("invalid_scope", "The requested scope is unknown or malformed.")
        return await sessions_service.rotate(
            self.sessions, self.auth.issuer, self.revocation, self.settings, refresh_token, narrower
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
    factors: Factors
    challenges: LoginChallenges
    passkeys: Passkeys

    async def password(
        self, *, login: str, password: str, client: ClientInfo, scope: str | None = None
    ) -> TokenPair:
        """Authenticate, then start a login session: its first token pair. An account with
        a second factor gets no pair: ``SecondFactorRequired``, with a challenge for
        ``second_factor``. Only a right password reaches that answer.

        ``scope`` (the OAuth grant's, RFC 6749 §3.3) narrows the session to a subset of
        what the user's roles allow; anything else is ``invalid_scope``. A scope outside the
        vocabulary is refused before the password is checked, one the user may not hold
        only after (it depends on the account)."""
        if narrowed(scope, frozenset(SCOPES)) is None:
            raise OAuthError("invalid_scope", "The requested scope is unknown or malformed.")
        user = await accounts_service.authenticate(
            self.users,
            self.auth.hasher,
            self.auth.throttle,
            login=login,
            password=password,
            client=client.ip,
            require_verified=self.settings.require_verified_email,
        )
        allowed = scopes_of_roles(roles_of(is_admin=user.is_admin))
        scopes = narrowed(scope, allowed)
        if scopes is None:
            raise OAuthError("invalid_scope", "The requested scope exceeds this account's.")
        # Nothing asked for: the human login's session, which holds what the roles allow.
        kept = format_scope(scopes) if scope is not None and scope.strip(" ") else None
        methods = await self.factors.methods(user.id)
        if methods:
            # The second step ends in the session this step asked for: the challenge keeps it.
            challenge = await self.challenges.issue(user.id, methods, kept)
            raise SecondFactorRequired(
                challenge, methods, self.settings.second_factor_challenge_seconds
            )
        return await sessions_service.start(
            self.sessions, self.auth.issuer, self.settings, user, client, scope=kept
        )

    async def second_factor(
        self,
        *,
        challenge: str,
        code: str | None,
        recovery_code: str | None,
        passkey: PasskeyAnswer | None,
        client: ClientInfo,
    ) -> TokenPair:
        """The second step of a login: a code (or a passkey) for the challenge ``password``
        answered, then
        the session's first pair, its tokens carrying how it was proved (``amr``). The
        challenge takes a few answers at most, and one right one: two right codes sent at
        once log in once."""
        answered = await self.challenges.answer(challenge)
        user = await self.users.get(answered.user_id)
        if user is None or not user.is_active:
            raise InvalidChallenge("The challenge is unknown, expired, or used: log in again.")
        if passkey is not None:
            ceremony = await self.passkeys.ceremonies.take(passkey.ceremony, "second-factor")
            if ceremony.login_challenge != challenge:
                raise InvalidPasskey("This ceremony belongs to another login: start again.")
            await self.passkeys.verify_assertion(ceremony, passkey.credential)
            amr: tuple[str, ...] = PASSKEY_SECOND_FACTOR_AMR
        else:
            amr = await self.factors.prove_second_factor(user.id, code, recovery_code, client.ip)
        await self.challenges.spend(answered)
        return await sessions_service.start(
            self.sessions, self.auth.issuer, self.settings, user, client, amr, answered.scope
        )

    async def passkey_options(self, challenge: str | None) -> tuple[str, dict[str, Any]]:
        """A sign-in ceremony: for a passkey alone, or for the second step of the password
        login whose ``challenge`` this is (counted as one of its answers)."""
        if challenge is None:
            return await self.passkeys.login_options()
        answered = await self.challenges.answer(challenge)
        return await self.passkeys.login_options(
            user_id=answered.user_id, login_challenge=challenge
        )

    async def passkey(
        self, ceremony_id: str, credential: dict[str, Any], client: ClientInfo
    ) -> TokenPair:
        """Sign in with a passkey alone: a discoverable credential whose authenticator
        verified its user, of an active account; the session's tokens say ``hwk``."""
        ceremony: Ceremony = await self.passkeys.ceremonies.take(ceremony_id, "login")
        passkey = await self.passkeys.verify_assertion(ceremony, credential)
        user = await self.users.get(passkey.user_id)
        if user is None or not user.is_active:
            raise InvalidPasskey("This passkey is not registered here.")
        if self.settings.require_verified_email and not user.email_verified:
            raise EmailNotVerified("Confirm your email address first.")
        return await sessions_service.start(
            self.sessions, self.auth.issuer, self.settings, user, client, amr=PASSKEY_AMR
        )

    async def refresh(self, refresh_token: str, scope: str | None = None) -> TokenPair:
        """Spend a refresh token for the next pair of its session (``RefreshGrant``)."""
        return await self.refresh_grant.refresh(refresh_token, scope)

    async def exchange(
        self,
        *,
        subject_token: str,
        subject_token_type: str,
        requested_token_type: str | None,
        scope: str | None,
    ) -> ExchangedToken:
        """RFC 8693 token exchange: a personal access token for a short access token."""
        return await pats_service.exchange(
            self.verifier,
            self.auth.issuer,
            subject_token=subject_token,
            subject_token_type=subject_token_type,
            requested_token_type=requested_token_type,
            scope=scope,
        )

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
