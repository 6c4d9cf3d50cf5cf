"""Failed password checks counted in Redis, three ways, in one atomic step per attempt.

Every attempt first *reserves* a failure in one Lua script: if any counter has reached its
limit the attempt is refused (429) before the password is looked at, else each counter is
incremented. Only then is the password checked; a success gives its reservation back. So
N concurrent guesses get at most the limit through to the hash, however they interleave
(a read-then-count limiter lets all of them through).

The counters, each in a fixed window that starts at its first failure:

- per identifier **and** client address: strict (5), so guessing from one place stops soon;
- per identifier across addresses: looser (50), so a stranger locked out at one address
  does not lock the owner out everywhere, and a botnet still meets a limit;
- per client address across identifiers: 100, against one address spraying many accounts.

The identifier is the string the client typed, in canonical form
(``tessera_core.accounts.identifier_key``), whether or not an account has it: the counters
never say whether an account exists, nor that a username and an email belong together. In
Redis the identifier appears only as a keyed hash (no emails in Redis).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from redis.exceptions import RedisError

from tessera_core.accounts import identifier_key
from tessera_core.errors import ServiceUnavailable, TesseraError
from tessera_core.passwords import PasswordHasher
from tessera_core.redis_client import RedisClient
from tessera_core.settings import Settings

__all__ = [
    "PREFIX",
    "LoginThrottle",
    "ThrottleUnavailable",
    "TooManyAttempts",
]

PREFIX = "tessera:login-failures:"
_KEY_LABEL = b"tessera login-failure counter"

# KEYS: the counters; ARGV[1]: the window (s); ARGV[1 + i]: the limit of KEYS[i].
# Returns 0 when the attempt is reserved, else the seconds until the fullest counter resets.
_RESERVE = """
local wait = 0
for i, key in ipairs(KEYS) do
  local count = tonumber(redis.call('GET', key) or '0')
  if count >= tonumber(ARGV[i + 1]) then
    local ttl = redis.call('TTL', key)
    if ttl < 0 then
      redis.call('EXPIRE', key, ARGV[1])
      ttl = tonumber(ARGV[1])
    end
    if ttl > wait then wait = ttl end
  end
end
if wait > 0 then return wait end
for _, key in ipairs(KEYS) do
  if redis.call('INCR', key) == 1 then redis.call('EXPIRE', key, ARGV[1]) end
end
return 0
"""

# KEYS[1]: the identifier-and-address counter (deleted: the owner proved the password from
# there); KEYS[2..]: the wider counters, which give back this attempt's reservation only.
_RELEASE = """
redis.call('DEL', KEYS[1])
for i = 2, #KEYS do
  if tonumber(redis.call('GET', KEYS[i]) or '0') > 0 then redis.call('DECR', KEYS[i]) end
end
return 0
"""


class TooManyAttempts(TesseraError):
    status = 429
    code = "too_many_attempts"
    title = "Too many failed attempts"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"Too many failed password attempts; try again in {retry_after} seconds.",
            headers={"Retry-After": str(retry_after)},
        )
        self.retry_after = retry_after


class ThrottleUnavailable(ServiceUnavailable):
    code = "rate_limiter_unavailable"
    title = "Login rate limiter unavailable"


@dataclass(frozen=True)
class Reservation:
    """One attempt's place in the counters: ``release()`` it when the password was right."""

    throttle: LoginThrottle
    keys: list[str]

    async def release(self) -> None:
        await self.throttle._run(self.throttle._release, self.keys, [])


class LoginThrottle:
    """The three failure counters of a password check (logins, ``/auth/password``, an
    email change).

    Example:
        >>> throttle = LoginThrottle(r, per_account_and_client=5, per_account=50,
        ...                          per_client=100, window=900)  # doctest: +SKIP
        >>> ok = await throttle.check_password(
        ...     hasher, user.password_hash, password, identifier="alice", client="10.0.0.1"
        ... )  # doctest: +SKIP
    """

    def __init__(
        self,
        redis: RedisClient,
        *,
        per_account_and_client: int,
        per_account: int,
        per_client: int,
        window: int,
    ) -> None:
        self.redis = redis
        self.per_account_and_client = per_account_and_client
        self.per_account = per_account
        self.per_client = per_client
        self.window = window
        self._reserve = redis.register_script(_RESERVE)
        self._release = redis.register_script(_RELEASE)

    @classmethod
    def from_settings(cls, redis: RedisClient, settings: Settings) -> LoginThrottle:
        return cls(
            redis,
            per_account_and_client=settings.login_max_failures_per_account_and_client,
            per_account=settings.login_max_failures_per_account,
            per_client=settings.login_max_failures_per_client,
            window=settings.login_failure_window_seconds,
        )

    @staticmethod
    def _digest(*parts: str) -> str:
        return hmac.new(_KEY_LABEL, "\x1f".join(parts).encode(), hashlib.sha256).hexdigest()

    def keys(self, identifier: str, client: str | None) -> list[tuple[str, int]]:
        """The counters of an attempt with their limits, strictest first."""
        key = identifier_key(identifier)
        where = client or "unknown"
        counters = [
            (f"{PREFIX}account-client:{self._digest(key, where)}", self.per_account_and_client),
            (f"{PREFIX}account:{self._digest(key)}", self.per_account),
        ]
        if client:
            counters.append((f"{PREFIX}client:{client}", self.per_client))
        return counters

    async def reserve(self, *, identifier: str, client: str | None) -> Reservation:
        """Count this attempt as a failure now; ``TooManyAttempts`` if a counter is full."""
        counters = self.keys(identifier, client)
        keys = [key for key, _ in counters]
        wait = await self._run(
            self._reserve, keys, [self.window, *(limit for _, limit in counters)]
        )
        if wait:
            raise TooManyAttempts(retry_after=max(1, int(wait)))
        return Reservation(self, keys)

    async def check_password(
        self,
        hasher: PasswordHasher,
        digest: str | None,
        password: str,
        *,
        identifier: str,
        client: str | None,
    ) -> bool:
        """Whether ``password`` matches ``digest`` (``None``: no account, a dummy hash is
        checked), counted as a failure unless it does: for re-authentication (a password
        change, an email change) as for logins. ``TooManyAttempts`` before any hashing."""
        attempt = await self.reserve(identifier=identifier, client=client)
        if not await hasher.verify(digest, password):
            return False
        await attempt.release()
        return True

    async def _run(self, script: object, keys: list[str], args: list[int]) -> int:
        try:
            result = await script(keys=keys, args=args)  # type: ignore[operator]
        except RedisError as exc:
            raise ThrottleUnavailable(
                "Password checks are paused: the rate limiter cannot be reached."
            ) from exc
        return int(result)
