"""What ``tessera serve`` sets up in each worker process before the app starts."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from tessera_core.serve import keep_large_allocations_unpooled

# Two threads hash with argon2id (19 MiB each), as the auth service's hasher does, then
# report resident memory: with the fix it returns to where it started.
PROBE = """
import sys
from concurrent.futures import ThreadPoolExecutor
from tessera_core.passwords import owasp_argon2
from tessera_core.serve import keep_large_allocations_unpooled
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
