"""The revocation keeper (the task that restores and resyncs the Redis fast path) ends with
its service, even when a cancellation is lost on its way: Python 3.11's ``asyncio.wait_for``
drops one that arrives as its inner call completes, and redis-py awaits it on every send."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from tessera_core.tokens import StaticJWKSSource
from tessera_core.web.runtime import core_state


class TestTheKeeperEnds:
    # Without the stop flag this hung until pytest-timeout's 300 s: the teardown awaited a
    # keeper that had lost its cancellation (seen twice in full runs on a loaded machine).
    @pytest.mark.timeout(30)
    async def test_a_lost_cancellation_does_not_keep_the_service_from_stopping(
        self, make_settings, monkeypatch: pytest.MonkeyPatch
    ):
        settings = make_settings(revocation_resync_seconds=0.3)
        working = asyncio.Event()

        async def step_that_loses_a_cancellation(*_args: object, **_kwargs: object) -> None:
            working.set()
            # What asyncio.wait_for does with a cancellation it loses:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(0.5)

        async def run_and_stop() -> None:
            no_keys = StaticJWKSSource(lambda: {"keys": []})
            async with core_state(settings, lambda _http: no_keys) as core:
                # Whichever step the keeper takes (restore or resync), it loses the cancel.
                for step in ("restore_trust", "resync"):
                    monkeypatch.setattr(core.revocation, step, step_that_loses_a_cancellation)
                await asyncio.wait_for(working.wait(), 5)

        await asyncio.wait_for(run_and_stop(), 10)
