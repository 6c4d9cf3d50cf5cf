"""WebAuthn ceremonies in flight: each challenge the server handed out, for whom and what
for, kept in Redis for a few minutes and taken at most once (a replayed response finds
nothing). Keyed by the SHA-256 of the ceremony id the client holds."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass

from redis.exceptions import RedisError

from tessera_auth.factors.errors import InvalidPasskey
from tessera_core.accounts.throttle import ThrottleUnavailable
from tessera_core.db.redis_client import RedisClient

__all__ = ["Ceremonies", "Ceremony"]

PREFIX = "tessera:webauthn:"
# KEYS: the ceremony. Returns its fields and deletes it, in one step: taken once.
_TAKE = """
local fields = redis.call('HGETALL', KEYS[1])
redis.call('DEL', KEYS[1])
return fields
"""


@dataclass(frozen=True)
class Ceremony:
    kind: str  # "register", "login", or "second-factor"
    challenge: bytes
    user_id: uuid.UUID | None
    login_challenge: str | None = None  # the password login a second factor answers


class Ceremonies:
    def __init__(self, redis: RedisClient, *, seconds: int) -> None:
        self.redis = redis
        self.seconds = seconds
        self._take = redis.register_script(_TAKE)

    @staticmethod
    def _key(ceremony_id: str) -> str:
        return PREFIX + hashlib.sha256(ceremony_id.encode()).hexdigest()

    async def begin(self, ceremony: Ceremony) -> str:
        ceremony_id = secrets.token_urlsafe(32)
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hset(
                    self._key(ceremony_id),
                    mapping={
                        "kind": ceremony.kind,
                        "challenge": ceremony.challenge.hex(),
                        "user": str(ceremony.user_id or ""),
                        "login": ceremony.login_challenge or "",
                    },
                )
                pipe.expire(self._key(ceremony_id), self.seconds)
                await pipe.execute()
        except RedisError as exc:
            raise ThrottleUnavailable("Passkeys are paused: the ceremony store is down.") from exc
        return ceremony_id

    async def take(self, ceremony_id: str, kind: str) -> Ceremony:
        """The ceremony, removed; ``InvalidPasskey`` if unknown, expired, used, or another
        kind."""
        try:
            raw = await self._take(keys=[self._key(ceremony_id)], args=[])
        except RedisError as exc:
            raise ThrottleUnavailable("Passkeys are paused: the ceremony store is down.") from exc
        values = [v.decode() if isinstance(v, bytes) else str(v) for v in raw or []]
        fields = dict(zip(values[::2], values[1::2], strict=True))
        if fields.get("kind") != kind:
            raise InvalidPasskey("The ceremony is unknown, expired or used: start again.")
        return Ceremony(
            kind=kind,
            challenge=bytes.fromhex(fields["challenge"]),
            user_id=uuid.UUID(fields["user"]) if fields["user"] else None,
            login_challenge=fields["login"] or None,
        )
