"""Failed password checks counted in Redis, three ways, with the count taken before the
verdict.

Every attempt first *reserves* a place in each counter (one Lua script per counter, so
each step is atomic and a counter's keys share one Redis Cluster slot): a counter holds
the failures of its window plus the checks in flight, and an attempt that would take it
past its limit is refused. If the failures alone fill it, the answer is 429; if checks in
flight do, the attempt waits for them (a moment: one hash) and tries again. Then the
password is checked, and the reservation becomes a failure or is given back. So N
concurrent guesses get at most the limit through to the hash, however they interleave (a
read-then-count limiter let all of them through), while an owner's concurrent correct
logins only queue briefly.

The counters, each in a fixed window that starts at its first failure:

- per identifier **and** client address: strict (5), so guessing from one place stops soon;
- per identifier across addresses: looser (50), so a stranger locked out at one address
  does not lock the owner out everywhere, and a botnet still meets a limit;
- per client address across identifiers: 100, against one address spraying many accounts.

The identifier is the string the client typed, in canonical form
(``tessera_core.accounts.users.identifier_key``), whether or not an account has it: the counters
never say whether an account exists, nor that a username and an email belong together. In
Redis the identifier appears only as a keyed hash (no emails in Redis).

A client address keys a counter by its network (``client_key``): an IPv6 client by its
/64 (``TESSERA_IPV6_CLIENT_PREFIX``), since one host commonly holds all of one, and an
IPv4-mapped address as the IPv4 address it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import time
from dataclasses import dataclass
from typing import Literal

import structlog
from redis.exceptions import RedisError

from tessera_core.accounts.passwords import PasswordHasher
from tessera_core.accounts.users import identifier_key
from tessera_core.db.redis_client import RedisClient
from tessera_core.errors import ServiceUnavailable, TesseraError
from tessera_core.settings import Settings

__all__ = [
    "PREFIX",
    "LoginThrottle",
    "RequestLimit",
    "ThrottleUnavailable",
    "TooManyAttempts",
    "TooManyRequests",
    "client_key",
]

PREFIX = "tessera:login-failures:"
_KEY_LABEL = b"tessera login-failure counter"
log = structlog.get_logger("tessera.throttle")

# KEYS: a counter's failures and its checks in flight; ARGV: limit, window, in-flight TTL.
# Returns 0 when reserved, -1 when checks in flight fill it (wait), else the seconds until
# the failures expire (refuse).
_RESERVE = """
local limit = tonumber(ARGV[1])
local failed = tonumber(redis.call('GET', KEYS[1]) or '0')
if failed >= limit then
  local ttl = redis.call('TTL', KEYS[1])
  if ttl < 0 then
    redis.call('EXPIRE', KEYS[1], ARGV[2])
    ttl = tonumber(ARGV[2])
  end
  return math.max(ttl, 1)
end
if failed + tonumber(redis.call('GET', KEYS[2]) or '0') >= limit then return -1 end
redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 0
"""

# KEYS as above; ARGV: outcome (failed / passed / reset / cancelled), window. The check
# leaves the in-flight count; a failure joins the failures; a reset clears them.
_FINISH = """
if tonumber(redis.call('GET', KEYS[2]) or '0') > 0 then redis.call('DECR', KEYS[2]) end
if ARGV[1] == 'failed' then
  if redis.call('INCR', KEYS[1]) == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
elseif ARGV[1] == 'reset' then
  redis.call('DEL', KEYS[1])
end
return 0
"""
# A check in flight that never reports (its process died) stops counting after this.
IN_FLIGHT_TTL = 30
# How long an attempt waits for checks in flight before it is refused anyway.
WAIT_SECONDS = 5.0
POLL_SECONDS = 0.05


def client_key(address: str | None, ipv6_prefix: int = 64) -> str | None:
    """What a limit counts a client address as: an IPv4 address as itself, an IPv6 one as
    its network of ``ipv6_prefix`` bits, an IPv4-mapped one (``::ffff:a.b.c.d``) as IPv4;
    anything else (a Unix socket, a test client's name) as given.

    Example:
        >>> client_key("2001:db8:1:2:aaaa::1"), client_key("::ffff:192.0.2.7")
        ('2001:db8:1:2::/64', '192.0.2.7')
    """
    if not address:
        return None
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, ipv6_prefix), strict=False))
    return str(ip)


@dataclass(frozen=True)
class Counter:
    failed: str
    in_flight: str
    limit: int

    @property
    def keys(self) -> list[str]:
        return [self.failed, self.in_flight]


class _RetryLater(TesseraError):
    """A 429 whose ``Retry-After`` (and detail) say when to try again."""

    status = 429
    too_many = "Too many requests"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"{self.too_many}; try again in {retry_after} seconds.",
            headers={"Retry-After": str(retry_after)},
        )
        self.retry_after = retry_after


class TooManyAttempts(_RetryLater):
    code = "too_many_attempts"
    title = "Too many failed attempts"
    too_many = "Too many failed password attempts"


class TooManyRequests(_RetryLater):
    code = "too_many_requests"
    title = "Too many requests"
    too_many = "Too many requests of this kind"


class ThrottleUnavailable(ServiceUnavailable):
    code = "rate_limiter_unavailable"
    title = "Login rate limiter unavailable"


@dataclass(frozen=True)
class Reservation:
    """One attempt's place in the counters: ``failed()`` or ``passed()`` once the password
    has been checked."""

    throttle: LoginThrottle
    counters: list[Counter]

    async def failed(self) -> None:
        await self.throttle._finish(self.counters, "failed")

    async def passed(self) -> None:
        # The owner proved the password from this address: that counter starts afresh. The
        # wider ones keep their failures: resetting the address's would let someone who owns
        # one account wipe their per-address count with a successful login now and then.
        await self.throttle._finish(self.counters[:1], "reset")
        await self.throttle._finish(self.counters[1:], "passed")


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
        ipv6_prefix: int = 64,
    ) -> None:
        self.redis = redis
        self.per_account_and_client = per_account_and_client
        self.per_account = per_account
        self.per_client = per_client
        self.window = window
        self.ipv6_prefix = ipv6_prefix
        self._reserve = redis.register_script(_RESERVE)
        self._finish_script = redis.register_script(_FINISH)

    @classmethod
    def from_settings(cls, redis: RedisClient, settings: Settings) -> LoginThrottle:
        return cls(
            redis,
            per_account_and_client=settings.login_max_failures_per_account_and_client,
            per_account=settings.login_max_failures_per_account,
            per_client=settings.login_max_failures_per_client,
            window=settings.login_failure_window_seconds,
            ipv6_prefix=settings.ipv6_client_prefix,
        )

    @staticmethod
    def _digest(*parts: str) -> str:
        return hmac.new(_KEY_LABEL, "\x1f".join(parts).encode(), hashlib.sha256).hexdigest()

    def counters(self, identifier: str, client: str | None) -> list[Counter]:
        """The counters of an attempt, strictest first. Each counter's two keys share a
        hash tag, so a script can take both on a Redis Cluster."""
        key = identifier_key(identifier)
        client = client_key(client, self.ipv6_prefix)
        where = client or "unknown"
        bases = [
            (f"account-client:{{{self._digest(key, where)}}}", self.per_account_and_client),
            (f"account:{{{self._digest(key)}}}", self.per_account),
        ]
        if client:
            bases.append((f"client:{{{client}}}", self.per_client))
        return [
            Counter(f"{PREFIX}{base}:failed", f"{PREFIX}{base}:in-flight", limit)
            for base, limit in bases
        ]

    async def reserve(self, *, identifier: str, client: str | None) -> Reservation:
        """Take a place in every counter before the password is checked; ``TooManyAttempts``
        if the failures of one fill it (or checks in flight keep it full too long)."""
        counters = self.counters(identifier, client)
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            taken: list[Counter] = []
            verdict = 0
            for counter in counters:
                verdict = await self._run(
                    self._reserve, counter.keys, [counter.limit, self.window, IN_FLIGHT_TTL]
                )
                if verdict:
                    break
                taken.append(counter)
            if not verdict:
                return Reservation(self, counters)
            await self._finish(taken, "cancelled")
            if verdict > 0:
                raise TooManyAttempts(retry_after=verdict)
            if time.monotonic() >= deadline:
                raise TooManyAttempts(retry_after=1)
            await asyncio.sleep(POLL_SECONDS)

    async def check_password(
        self,
        hasher: PasswordHasher,
        digest: str | None,
        password: str,
        *,
        identifier: str,
        client: str | None,
        when_unavailable: Literal["refuse", "check"] = "refuse",
    ) -> bool:
        """Whether ``password`` matches ``digest`` (``None``: no account, a dummy hash is
        checked), counted as a failure unless it does: for re-authentication (a password
        change, an email change) as for logins. ``TooManyAttempts`` before any hashing.

        Args:
            when_unavailable: without Redis, ``refuse`` (``ThrottleUnavailable``, 503) or
                ``check`` the password uncounted, for a change that must not wait for Redis.
        """
        try:
            attempt: Reservation | None = await self.reserve(identifier=identifier, client=client)
        except ThrottleUnavailable:
            if when_unavailable == "refuse":
                raise
            log.warning("password_check_unthrottled", reason="rate_limiter_unavailable")
            attempt = None
        valid = await hasher.verify(digest, password)
        if attempt is not None:
            with contextlib.suppress(ThrottleUnavailable):
                await (attempt.passed() if valid else attempt.failed())
        return valid

    async def _finish(self, counters: list[Counter], outcome: str) -> None:
        for counter in counters:
            await self._run(self._finish_script, counter.keys, [outcome, self.window])

    async def _run(self, script: object, keys: list[str], args: list[int | str]) -> int:
        try:
            result = await script(keys=keys, args=args)  # type: ignore[operator]
        except RedisError as exc:
            raise ThrottleUnavailable(
                "Password checks are paused: the rate limiter cannot be reached."
            ) from exc
        return int(result)


# KEYS: one counter; ARGV: limit, window. Counts the request and returns 0 while within
# the limit, else the seconds until the window ends.
_HIT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
if count > tonumber(ARGV[1]) then
  return math.max(redis.call('TTL', KEYS[1]), 1)
end
return 0
"""
REQUEST_PREFIX = "tessera:requests:"
CLIENT_SCOPE = "client"


class RequestLimit:
    """Requests of one kind counted in fixed windows (mail a reset link, resend a
    verification link): 429 ``too_many_requests`` past a limit, per key. Keys are hashed
    like the login counters' (no email in Redis), each its own hash tag. The value of a
    ``client`` scope is a client address, counted by its network (``client_key``).

    Example:
        >>> limit = RequestLimit(r, "password-forgot", window=3600)  # doctest: +SKIP
        >>> await limit.hit(("email", "alice@example.com", 3), ("client", "10.0.0.1", 20))
    """

    def __init__(
        self, redis: RedisClient, kind: str, *, window: int, ipv6_prefix: int = 64
    ) -> None:
        self.redis = redis
        self.kind = kind
        self.window = window
        self.ipv6_prefix = ipv6_prefix
        self._hit = redis.register_script(_HIT)

    @classmethod
    def from_settings(cls, redis: RedisClient, kind: str, settings: Settings) -> RequestLimit:
        return cls(
            redis,
            kind,
            window=settings.mail_request_window_seconds,
            ipv6_prefix=settings.ipv6_client_prefix,
        )

    def client(self, address: str | None) -> str:
        """What this limit counts ``address`` as (``client_key``; ``unknown`` without one)."""
        return client_key(address, self.ipv6_prefix) or "unknown"

    def key(self, scope: str, value: str) -> str:
        if scope == CLIENT_SCOPE:
            value = client_key(value, self.ipv6_prefix) or value
        digest = LoginThrottle._digest(self.kind, scope, value)
        return f"{REQUEST_PREFIX}{self.kind}:{scope}:{{{digest}}}"

    async def hit(self, *counters: tuple[str, str, int]) -> None:
        """Count one request in each ``(scope, value, limit)`` counter; ``TooManyRequests``
        if one is past its limit, ``ThrottleUnavailable`` without Redis."""
        retry_after = 0
        for scope, value, limit in counters:
            try:
                verdict = int(
                    await self._hit(keys=[self.key(scope, value)], args=[limit, self.window])
                )
            except RedisError as exc:
                raise ThrottleUnavailable(
                    "This request is paused: the rate limiter cannot be reached."
                ) from exc
            retry_after = max(retry_after, verdict)
        if retry_after:
            raise TooManyRequests(retry_after=retry_after)
