"""The challenge a password login gets when its account has a second factor: short-lived,
single-use, and void after a few wrong answers. Kept in Redis under the SHA-256 of the
challenge (Redis never holds one that works), one key each, so any Redis Cluster slot."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass

from redis.exceptions import RedisError

from tessera_auth.factors.errors import InvalidChallenge
from tessera_core.accounts.throttle import ThrottleUnavailable
from tessera_core.db.redis_client import RedisClient

__all__ = ["Challenge", "LoginChallenges"]

PREFIX = "tessera:second-factor:"

# KEYS: the challenge; ARGV: the most answers it takes. Counts this answer and returns the
# challenge's user id, methods and narrowed scope, or nothing if it is unknown, expired or
# out of answers (then it is gone).
_ANSWER = """
local user = redis.call('HGET', KEYS[1], 'user')
if not user then return false end
local answers = redis.call('HINCRBY', KEYS[1], 'answers', 1)
if answers > tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  return false
end
return {user, redis.call('HGET', KEYS[1], 'methods'), redis.call('HGET', KEYS[1], 'scope') or ''}
"""


@dataclass(frozen=True)
class Challenge:
    key: str
    user_id: uuid.UUID
    methods: list[str]
    # The scope the login asked for (``/token``'s ``scope``), which the session it ends in
    # keeps; None: all the account's roles allow.
    scope: str | None = None


class LoginChallenges:
    def __init__(self, redis: RedisClient, *, seconds: int, answers: int) -> None:
        self.redis = redis
        self.seconds = seconds
        self.answers = answers
        self._answer = redis.register_script(_ANSWER)

    @staticmethod
    def _key(challenge: str) -> str:
        return PREFIX + hashlib.sha256(challenge.encode()).hexdigest()

    async def issue(self, user_id: uuid.UUID, methods: list[str], scope: str | None = None) -> str:
        challenge = secrets.token_urlsafe(32)
        key = self._key(challenge)
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hset(
                    key,
                    mapping={
                        "user": str(user_id),
                        "methods": ",".join(methods),
                        "scope": scope or "",
                    },
                )
                pipe.expire(key, self.seconds)
                await pipe.execute()
        except RedisError as exc:
            raise ThrottleUnavailable("Logins are paused: the challenge store is down.") from exc
        return challenge

    async def answer(self, challenge: str) -> Challenge:
        """Count one answer to ``challenge``; ``InvalidChallenge`` if it cannot take one."""
        key = self._key(challenge)
        try:
            found = await self._answer(keys=[key], args=[self.answers])
        except RedisError as exc:
            raise ThrottleUnavailable("Logins are paused: the challenge store is down.") from exc
        if not found:
            raise InvalidChallenge("The challenge is unknown, expired, or used: log in again.")
        user, methods, scope = (v.decode() if isinstance(v, bytes) else v for v in found)
        return Challenge(key, uuid.UUID(user), methods.split(","), scope or None)

    async def spend(self, challenge: Challenge) -> None:
        """Void the challenge once answered; ``InvalidChallenge`` if another answer did first
        (two right codes sent at once log in once)."""
        try:
            deleted = await self.redis.delete(challenge.key)
        except RedisError as exc:
            raise ThrottleUnavailable("Logins are paused: the challenge store is down.") from exc
        if not deleted:
            raise InvalidChallenge("The challenge was answered already: log in again.")
