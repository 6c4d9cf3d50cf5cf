"""Failed-login counters in Redis, per account and per client address."""

from __future__ import annotations

from redis.exceptions import RedisError

from tessera_auth.accounts.errors import TooManyAttempts
from tessera_core.errors import ServiceUnavailable
from tessera_core.redis_client import RedisClient

PREFIX = "tessera:login-failures:"


class ThrottleUnavailable(ServiceUnavailable):
    code = "rate_limiter_unavailable"
    title = "Login rate limiter unavailable"


class LoginThrottle:
    """Counts failures in a fixed window that starts at the first failure.

    Example:
        >>> throttle = LoginThrottle(r, per_account=5, per_client=100, window=900)  # doctest: +SKIP
        >>> await throttle.check(account="alice", client="10.0.0.1")  # doctest: +SKIP
    """

    def __init__(
        self, redis: RedisClient, *, per_account: int, per_client: int, window: int
    ) -> None:
        self.redis = redis
        self.limits = {"account": per_account, "client": per_client}
        self.window = window

    def _keys(self, account: str, client: str | None) -> dict[str, str]:
        keys = {"account": f"{PREFIX}account:{account.lower()}"}
        if client:
            keys["client"] = f"{PREFIX}client:{client}"
        return keys

    async def check(self, *, account: str, client: str | None) -> None:
        keys = self._keys(account, client)
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for key in keys.values():
                    pipe.get(key)
                    pipe.ttl(key)
                results = await pipe.execute()
        except RedisError as exc:
            raise ThrottleUnavailable(
                "Logins are paused: the rate limiter cannot be reached."
            ) from exc
        for index, kind in enumerate(keys):
            count, ttl = results[2 * index], results[2 * index + 1]
            if count is not None and int(count) >= self.limits[kind]:
                raise TooManyAttempts(retry_after=max(1, int(ttl)))

    async def record_failure(self, *, account: str, client: str | None) -> None:
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                for key in self._keys(account, client).values():
                    pipe.incr(key)
                    pipe.expire(key, self.window, nx=True)
                await pipe.execute()
        except RedisError as exc:
            raise ThrottleUnavailable(
                "Logins are paused: the rate limiter cannot be reached."
            ) from exc

    async def reset(self, *, account: str) -> None:
        # Only the account's counter: resetting the client's would let an attacker who owns
        # one account wipe their per-address count with a successful login now and then.
        try:
            await self.redis.delete(self._keys(account, None)["account"])
        except RedisError as exc:
            raise ThrottleUnavailable(
                "Logins are paused: the rate limiter cannot be reached."
            ) from exc
