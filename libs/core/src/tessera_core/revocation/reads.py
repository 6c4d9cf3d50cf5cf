"""The revocation check's reads, coalesced: every request asks Redis the same question (are
these four keys set?), and under load dozens ask it at once. The requests that reach the
check in one turn of the event loop share one pipeline: one connection checkout, one write
and one read instead of one each, and one Redis round trip.

A read joins the batch that has not been sent yet, so it is never answered by a batch sent
before it was asked: a revocation that completed before a request began is seen by it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from tessera_core.db.redis_client import RedisClient

__all__ = ["CoalescedReads"]

Keys = Sequence[str]


class CoalescedReads:
    """``MGET`` for many callers at once, as one pipeline per turn of the event loop.

    Example:
        >>> reads = CoalescedReads(redis)  # doctest: +SKIP
        >>> await reads.mget(["a", "b"])  # doctest: +SKIP
        [None, b'1']
    """

    def __init__(self, redis: RedisClient) -> None:
        self.redis = redis
        self._waiting: list[tuple[Keys, asyncio.Future[list[Any]]]] = []
        self._sending: set[asyncio.Task[None]] = set()

    async def mget(self, keys: Keys) -> list[Any]:
        """The values of ``keys`` (``None`` for a missing key); the client's ``RedisError``
        if the batch this read joined failed."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[list[Any]] = loop.create_future()
        if not self._waiting:
            # After the callbacks already due in this turn: the requests that arrived with
            # this one reach their check first, and join the batch.
            loop.call_soon(self._send_waiting)
        self._waiting.append((keys, answer))
        return await answer

    def _send_waiting(self) -> None:
        batch, self._waiting = self._waiting, []
        task = asyncio.ensure_future(self._send(batch))
        self._sending.add(task)  # the loop keeps only a weak reference to a task
        task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[tuple[Keys, asyncio.Future[list[Any]]]]) -> None:
        try:
            if len(batch) == 1:
                values = [await self.redis.mget(batch[0][0])]
            else:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for keys, _ in batch:
                        pipe.mget(keys)
                    values = await pipe.execute()
        except asyncio.CancelledError:
            for _, answer in batch:
                answer.cancel()
            raise
        except Exception as exc:
            for _, answer in batch:
                if not answer.done():
                    answer.set_exception(exc)
            return
        for (_, answer), value in zip(batch, values, strict=True):
            if not answer.done():  # its request may have been cancelled meanwhile
                answer.set_result(value)
