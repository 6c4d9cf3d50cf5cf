"""Documents fetched from registered URLs, kept per process (a service account's JWK set
from its ``jwks_uri``).

Per URL: a fetched value is trusted for ``max_age`` seconds. A caller that finds it lacking
(``accept`` says no: the assertion's ``kid`` is not in the set) or stale causes a refetch,
but no more than one per ``min_refetch_interval`` (counted from the last attempt, failed or
not), so a client's key rotation is seen at once while a flood of forged ``kid``s, or a
dead URL, costs one fetch per interval. Concurrent callers share one fetch (single flight:
one task per URL, which a cancelled caller does not cancel). A failed fetch keeps the value
held (stale, with a warning in the log); with none held the caller gets
``FetchUnavailable``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import structlog

__all__ = ["FetchUnavailable", "FetchedCache"]

T = TypeVar("T")
log = structlog.get_logger("tessera.outbound")


class FetchUnavailable(Exception):
    """No usable value is held for the URL and it could not be fetched now."""


@dataclass
class _Entry(Generic[T]):
    value: T | None = None
    fetched_at: float = 0.0
    attempted_at: float | None = None
    inflight: asyncio.Task[None] | None = None
    error: str | None = None


class FetchedCache(Generic[T]):
    """``fetch(url)`` returns the value or raises (any ``Exception`` is a failed fetch).

    Example:
        >>> keys = FetchedCache(fetch_key_set, max_age=300)  # doctest: +SKIP
        >>> key_set = await keys.get(url, accept=lambda s: kid in s)  # doctest: +SKIP
    """

    def __init__(
        self,
        fetch: Callable[[str], Awaitable[T]],
        *,
        max_age: float = 300.0,
        min_refetch_interval: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.fetch = fetch
        self.max_age = max_age
        self.min_refetch_interval = min_refetch_interval
        self.clock = clock
        self._entries: dict[str, _Entry[T]] = {}

    async def get(self, url: str, *, accept: Callable[[T], bool] = lambda _: True) -> T:
        """The value for ``url``: the one held if fresh and accepted, else a refetch's when
        one is allowed now, else the one held (stale or not accepted: the caller's check
        then fails), else ``FetchUnavailable``."""
        entry = self._entries.setdefault(url, _Entry())
        now = self.clock()
        held = entry.value
        if held is not None and now - entry.fetched_at <= self.max_age and accept(held):
            return held
        too_soon = (
            entry.attempted_at is not None and now - entry.attempted_at < self.min_refetch_interval
        )
        if entry.inflight is not None or not too_soon:
            await self._refresh(url, entry)
        if entry.value is None:
            raise FetchUnavailable(entry.error or "not fetched yet")
        return entry.value

    async def load(self, url: str) -> T:
        """Fetch ``url`` now, whatever is held or when it was fetched (a registration checks
        what the URL serves): the value, also held from now on; the fetch's own exception
        when it fails."""
        entry = self._entries.setdefault(url, _Entry())
        entry.attempted_at = self.clock()
        value = await self.fetch(url)
        entry.value, entry.fetched_at, entry.error = value, self.clock(), None
        return value

    async def _refresh(self, url: str, entry: _Entry[T]) -> None:
        task = entry.inflight
        if task is None:
            entry.attempted_at = self.clock()
            task = asyncio.create_task(self._fetch_into(url, entry), name=f"fetch {url}")
            entry.inflight = task
        await asyncio.shield(task)

    async def _fetch_into(self, url: str, entry: _Entry[T]) -> None:
        try:
            value = await self.fetch(url)
        except Exception as exc:
            entry.error = str(exc) or type(exc).__name__
            log.warning(
                "outbound_fetch_failed",
                url=url,
                error=entry.error,
                using_stale=entry.value is not None,
            )
        else:
            entry.value, entry.fetched_at, entry.error = value, self.clock(), None
        finally:
            entry.inflight = None
