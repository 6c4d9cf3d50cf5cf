"""Traffic that keeps running while a test breaks something, with every response kept."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType

import httpx

Call = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]


@dataclass(frozen=True)
class Sample:
    label: str
    sent: float  # time.monotonic()
    answered: float
    status: int  # -1: no HTTP answer at all
    code: str | None = None  # the problem's ``code``, when there is one

    @property
    def seconds(self) -> float:
        return self.answered - self.sent


@dataclass
class Traffic:
    """``workers`` concurrent loops over ``calls`` (label → request), from a thread of its
    own, from ``with`` until its end.

    Example:
        >>> with Traffic(url, {"me": lambda c: c.get("/api/v1/users/me")}) as traffic:  # doctest: +SKIP
        ...     break_something()
        >>> traffic.statuses("me")  # doctest: +SKIP
        Counter({200: 310, 503: 41})
    """

    base_url: str
    calls: dict[str, Call]
    workers: int = 4
    pause: float = 0.01
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Traffic:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(30)

    async def _run(self) -> None:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=15) as client:
            await asyncio.gather(*(self._loop(client, offset) for offset in range(self.workers)))

    async def _loop(self, client: httpx.AsyncClient, offset: int) -> None:
        labels = list(self.calls)
        turn = offset
        while not self._stop.is_set():
            label = labels[turn % len(labels)]
            turn += 1
            sent = time.monotonic()
            try:
                response = await self.calls[label](client)
                status, code = response.status_code, _code(response)
            except httpx.HTTPError:
                status, code = -1, None
            self.samples.append(Sample(label, sent, time.monotonic(), status, code))
            await asyncio.sleep(self.pause)

    def of(self, label: str) -> list[Sample]:
        return [s for s in self.samples if s.label == label]

    def statuses(self, label: str | None = None) -> Counter[int]:
        return Counter(s.status for s in self.samples if label in (None, s.label))

    def worst_seconds(self, label: str | None = None) -> float:
        return max(s.seconds for s in self.samples if label in (None, s.label))

    def report(self) -> str:
        """One line per label: requests, statuses, worst latency (for the test's output)."""
        return "; ".join(
            f"{label}: {len(self.of(label))} requests {dict(self.statuses(label))} "
            f"worst {self.worst_seconds(label):.2f}s"
            for label in self.calls
            if self.of(label)
        )


def _code(response: httpx.Response) -> str | None:
    if not response.headers.get("content-type", "").startswith("application/problem+json"):
        return None
    code = response.json().get("code")
    return str(code) if code is not None else None
