"""The per-process cache of fetched documents (``tessera_core.outbound.cache``): trusted
for its age, refetched when lacking but at most once per interval, one fetch for concurrent
callers, the stale value kept when a fetch fails. A fake fetch and a fake clock; the real
server is in tests/integration/auth/test_service_account_jwks_uri.py."""

from __future__ import annotations

import asyncio

import pytest

from tessera_core.outbound.cache import FetchedCache, FetchUnavailable


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Source:
    """Answers the values in turn (an exception is raised); counts the fetches."""

    def __init__(self, *answers: set[str] | Exception, delay: float = 0.0) -> None:
        self.answers = list(answers)
        self.calls = 0
        self.delay = delay

    async def __call__(self, url: str) -> set[str]:
        self.calls += 1
        await asyncio.sleep(self.delay)
        answer = self.answers[min(self.calls, len(self.answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer


def cache(source: Source, clock: Clock) -> FetchedCache[set[str]]:
    return FetchedCache(source, max_age=300, min_refetch_interval=30, clock=clock)


async def test_a_fresh_value_is_not_fetched_again():
    source, clock = Source({"k1"}), Clock()
    keys = cache(source, clock)
    assert await keys.get("u") == {"k1"}
    clock.now += 299
    assert await keys.get("u", accept=lambda s: "k1" in s) == {"k1"}
    assert source.calls == 1


async def test_an_old_value_is_fetched_again():
    source, clock = Source({"k1"}, {"k2"}), Clock()
    keys = cache(source, clock)
    await keys.get("u")
    clock.now += 301
    assert await keys.get("u") == {"k2"}
    assert source.calls == 2


async def test_an_unknown_kid_refetches_once_per_interval():
    source, clock = Source({"k1"}, {"k2"}, {"k3"}), Clock()
    keys = cache(source, clock)
    await keys.get("u")
    clock.now += 30
    assert await keys.get("u", accept=lambda s: "k2" in s) == {"k2"}
    clock.now += 5
    assert await keys.get("u", accept=lambda s: "bogus" in s) == {"k2"}
    assert source.calls == 2


async def test_concurrent_callers_share_one_fetch():
    source, clock = Source({"k1"}, delay=0.05), Clock()
    keys = cache(source, clock)
    results = await asyncio.gather(*(keys.get("u") for _ in range(20)))
    assert results == [{"k1"}] * 20
    assert source.calls == 1


async def test_a_failed_fetch_keeps_the_stale_value():
    source, clock = Source({"k1"}, OSError("down")), Clock()
    keys = cache(source, clock)
    await keys.get("u")
    clock.now += 301
    assert await keys.get("u") == {"k1"}
    assert source.calls == 2


async def test_nothing_held_and_no_answer_is_unavailable_and_not_retried_at_once():
    source, clock = Source(OSError("down"), {"k1"}), Clock()
    keys = cache(source, clock)
    with pytest.raises(FetchUnavailable, match="down"):
        await keys.get("u")
    with pytest.raises(FetchUnavailable):
        await keys.get("u")
    assert source.calls == 1
    clock.now += 30
    assert await keys.get("u") == {"k1"}


async def test_load_fetches_now_and_raises_the_fetch_error():
    source, clock = Source({"k1"}, ValueError("bad set"), {"k3"}), Clock()
    keys = cache(source, clock)
    assert await keys.load("u") == {"k1"}
    with pytest.raises(ValueError, match="bad set"):
        await keys.load("u")
    assert await keys.get("u") == {"k1"}
    assert await keys.load("u") == {"k3"}
    assert source.calls == 3
