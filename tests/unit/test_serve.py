"""What ``tessera serve`` sets up in each worker process before the app starts."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import pytest

from tessera_core.ops.serve import keep_large_allocations_unpooled

# Two threads hash with argon2id (19 MiB each), as the auth service's hasher does, then
# report resident memory: with the fix it returns to where it started.
PROBE = """
import sys
from concurrent.futures import ThreadPoolExecutor
from tessera_core.accounts.passwords import owasp_argon2
from tessera_core.ops.serve import keep_large_allocations_unpooled
if sys.argv[1] == "fixed":
    keep_large_allocations_unpooled()
hasher = owasp_argon2()
digest = hasher.hash("probe")
def rss_kib():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
before = rss_kib()
with ThreadPoolExecutor(2) as pool:
    list(pool.map(lambda _: hasher.verify(digest, "probe"), range(20)))
print(rss_kib() - before)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="a glibc tuning")
class TestFreedMemory:
    def test_mallopt_is_accepted(self):
        assert keep_large_allocations_unpooled() is True

    def test_hash_memory_is_returned_after_use(self):
        def grown_mib(mode: str) -> float:
            out = subprocess.run(
                [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True
            )
            return int(out.stdout) / 1024

        kept_without, kept_with = grown_mib("default"), grown_mib("fixed")
        print(
            f"resident after 20 hashes: {kept_without:.1f} MiB kept by default, {kept_with:.1f} MiB with the fix"
        )
        assert kept_without > 30
        assert kept_with < 10


# A server started as `tessera serve` starts one: it reports what the collector still
# tracks once startup is over.
STARTUP_PROBE = """
import asyncio, gc
from tessera_core.ops.serve import DrainingServer, build_config

async def main():
    server = DrainingServer(build_config("bench.baseline:create_app", host="127.0.0.1", port=0))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    print(gc.get_freeze_count(), len(gc.get_objects()))
    server.should_exit = True
    await serving

asyncio.run(main())
"""


class TestStartupHeap:
    def test_what_startup_built_is_frozen_out_of_the_collectors_sight(self):
        out = subprocess.run(
            [sys.executable, "-c", STARTUP_PROBE],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parents[2],
        )
        frozen, tracked = map(int, out.stdout.split())
        print(f"after startup: {frozen} objects frozen, {tracked} still tracked")
        assert frozen > 10 * tracked
