"""The revocation keeper (the task that restores and resyncs the Redis fast path) ends with
its service, even when a cancellation is lost on its way: Python 3.11's ``asyncio.wait_for``
drops one that arrives as its inner call completes, and redis-py awaits it on every send."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

import pytest

from tessera_core.revocation.keys import Entry
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


class TestResyncAgainstDataLoss:
    async def test_a_flush_during_a_resync_never_leaves_a_marker_over_lost_keys(
        self, make_settings, monkeypatch: pytest.MonkeyPatch
    ):
        """Redis loses its data between a resync's keys and its markers (a FLUSHALL, a
        restart). A marker set then would vouch for keys that are gone: every check in that
        moment accepted revoked tokens (seen in CI: 5 answers 200 for a logged-out token)."""
        from tessera_core.errors import RevocationUnavailable
        from tessera_core.revocation.keys import SENTINEL_MARKER

        no_keys = StaticJWKSSource(lambda: {"keys": []})
        async with core_state(make_settings(), lambda _http: no_keys) as core:
            fast_path, redis = core.revocation, core.redis
            write = fast_path._write

            async def write_then_lose_everything(entries: Sequence[Entry]) -> None:
                await write(entries)
                await redis.flushall()

            markers_seen: list[object] = []
            drop = fast_path._drop_markers

            async def drop_markers_watched() -> None:
                markers_seen.append(await redis.get(SENTINEL_MARKER))
                await drop()

            monkeypatch.setattr(fast_path, "_write", write_then_lose_everything)
            monkeypatch.setattr(fast_path, "_drop_markers", drop_markers_watched)
            with pytest.raises(RevocationUnavailable):
                await fast_path.resync(reason="test")
            assert markers_seen == [None], "a marker stood over lost keys before being dropped"
            assert await redis.get(SENTINEL_MARKER) is None

            monkeypatch.undo()
            assert await fast_path.resync(reason="test")
            assert await redis.get(SENTINEL_MARKER) is not None
