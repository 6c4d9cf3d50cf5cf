"""The revocation check's coalesced reads against a real Redis: many callers at once each get
their own keys' values, a write finished before a read began is always seen, a failure
reaches every caller of its batch, and a cancelled caller leaves the others answered."""

from __future__ import annotations

import asyncio
import signal

import pytest
from redis.exceptions import RedisError

from tessera_core.db.redis_client import make_redis
from tessera_core.revocation.reads import CoalescedReads
from tests.fixtures.servers import LocalRedis


@pytest.fixture
async def reads(make_settings, own_redis: LocalRedis):
    redis = make_redis(make_settings(redis_url=own_redis.url(), redis_timeout_seconds=0.5))
    yield CoalescedReads(redis)
    await redis.aclose()


async def test_many_callers_at_once_each_get_their_own_values(reads: CoalescedReads):
    await reads.redis.mset({f"k{i}": str(i) for i in range(0, 300, 3)})
    keys = [[f"k{i}", f"k{i + 1}", f"k{i + 2}"] for i in range(0, 300, 3)]
    answers = await asyncio.gather(*(reads.mget(k) for k in keys))
    assert answers == [[str(i).encode(), None, None] for i in range(0, 300, 3)]


async def test_a_write_done_before_a_read_began_is_seen(reads: CoalescedReads):
    """Readers run all along; each write is followed by reads started after it returned,
    which must all see it, while older reads still in flight may not."""
    stop = asyncio.Event()

    async def background() -> None:
        while not stop.is_set():
            await asyncio.gather(*(reads.mget([f"w{i}"]) for i in range(20)))

    noise = [asyncio.create_task(background()) for _ in range(4)]
    try:
        for i in range(200):
            await reads.redis.set(f"w{i % 20}", str(i))
            seen = await asyncio.gather(*(reads.mget([f"w{i % 20}"]) for _ in range(5)))
            assert seen == [[str(i).encode()]] * 5, (i, seen)
    finally:
        stop.set()
        await asyncio.gather(*noise)


async def test_a_failure_reaches_every_caller_then_reads_recover(
    reads: CoalescedReads, own_redis: LocalRedis
):
    await reads.redis.set("a", "1")
    assert own_redis.process is not None
    own_redis.process.send_signal(signal.SIGSTOP)
    try:
        results = await asyncio.wait_for(
            asyncio.gather(*(reads.mget(["a"]) for _ in range(10)), return_exceptions=True), 5
        )
    finally:
        own_redis.process.send_signal(signal.SIGCONT)
    assert all(isinstance(r, RedisError) for r in results), results
    assert await reads.mget(["a"]) == [b"1"]


async def test_a_cancelled_caller_leaves_the_others_answered(reads: CoalescedReads):
    await reads.redis.set("c", "1")
    callers = [asyncio.create_task(reads.mget(["c"])) for _ in range(10)]
    await asyncio.sleep(0)  # every caller has joined the batch
    callers[3].cancel()
    done = await asyncio.gather(*callers, return_exceptions=True)
    assert isinstance(done[3], asyncio.CancelledError)
    assert [d for i, d in enumerate(done) if i != 3] == [[b"1"]] * 9
