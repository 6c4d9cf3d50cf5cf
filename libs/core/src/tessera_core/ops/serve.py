"""Run a service under uvicorn, draining gracefully on SIGTERM.

On SIGTERM (or the first SIGINT) readiness turns false at once (``app.state.draining``);
the server keeps accepting connections for ``TESSERA_SHUTDOWN_DELAY_SECONDS`` so load
balancers see ``/readyz`` fail and stop sending new requests, then uvicorn stops
listening and finishes the requests in flight (up to ``TESSERA_GRACEFUL_TIMEOUT_SECONDS``)
before the process exits. A second signal during the delay skips the rest of it.

With several workers every worker process drains the same way, and the Prometheus samples
of all of them are added up in ``PROMETHEUS_MULTIPROC_DIR`` (a fresh temporary directory
unless one is configured), so a scrape answered by any worker reports the whole process.
"""

from __future__ import annotations

import ctypes
import gc
import os
import shutil
import socket
import tempfile
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.supervisors import multiprocess

from tessera_core.settings import SettingsError

__all__ = [
    "MULTIPROC_ENV",
    "DrainingServer",
    "build_config",
    "forwarded_allow_ips",
    "keep_large_allocations_unpooled",
    "serve",
]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def _prepare_multiprocess_metrics(workers: int) -> Path | None:
    """Point every worker at one metrics directory; returns it if this call created it."""
    created: Path | None = None
    if workers > 1 and not os.environ.get(MULTIPROC_ENV):
        created = Path(tempfile.mkdtemp(prefix="tessera-metrics-"))
        os.environ[MULTIPROC_ENV] = str(created)
    directory = os.environ.get(MULTIPROC_ENV)
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        # Samples of a previous run would be added to this one's.
        for stale in Path(directory).glob("*.db"):
            stale.unlink()
    return created


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    return float(raw) if raw.strip() else default


def forwarded_allow_ips() -> str:
    """The proxies whose ``X-Forwarded-For``/``-Proto`` are believed
    (``TESSERA_FORWARDED_ALLOW_IPS``, default ``127.0.0.1``). uvicorn then takes the
    right-most address that is not one of them: what the last trusted proxy saw.

    Raises:
        SettingsError: for ``*``. With it uvicorn takes the *left-most* entry, which the
            client writes itself (a load balancer appends to it), so anyone could choose
            the address the login limits and the sessions see.
    """
    value = os.environ.get("TESSERA_FORWARDED_ALLOW_IPS", "127.0.0.1")
    if "*" in (part.strip() for part in value.split(",")):
        raise SettingsError(
            "TESSERA_FORWARDED_ALLOW_IPS=* lets every client forge its address; list the "
            "proxies (addresses or CIDRs) in front of the service instead"
        )
    return value


def build_config(factory: str, *, host: str, port: int, workers: int = 1) -> uvicorn.Config:
    """The uvicorn configuration ``serve`` runs with (exposed for tests)."""
    return uvicorn.Config(
        factory,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        forwarded_allow_ips=forwarded_allow_ips(),
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=int(_env_float("TESSERA_GRACEFUL_TIMEOUT_SECONDS", 20)),
        server_header=False,
    )


M_MMAP_THRESHOLD = -3  # glibc's mallopt() parameter number


def keep_large_allocations_unpooled() -> bool:
    """Serve allocations of 128 KiB and more from mmap, returned on free (glibc only).

    glibc raises its mmap threshold to the size of the largest block freed so far, so
    after the first argon2id hash (19 MiB of memory per hash thread) every later hash is
    carved from the heap and stays resident: the auth service kept ~40 MiB it no longer
    used. Setting the threshold explicitly turns that adjustment off."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc (musl, macOS): nothing to tune
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, 128 * 1024))


def serve(factory: str, *, host: str, port: int, workers: int = 1) -> int:
    """Run ``factory`` (``module:create_app``) with ``workers`` processes until a signal.

    Example:
        >>> serve("tessera_auth.app:create_app", host="0.0.0.0", port=8001)  # doctest: +SKIP
        0
    """
    created = _prepare_multiprocess_metrics(workers)
    config = build_config(factory, host=host, port=port, workers=workers)
    try:
        if workers > 1:
            # uvicorn's supervisor builds a plain ``Server`` in each worker; have it build ours
            # so that every worker drains (uvicorn has no hook for the server class).
            multiprocess.Process = _DrainingProcess  # type: ignore[misc]
            multiprocess.Multiprocess(config, sockets=[config.bind_socket()]).run()
        else:
            DrainingServer(config).run()
    finally:
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
    return 0


class DrainingServer(uvicorn.Server):
    """A uvicorn server that reports "not ready" before it stops listening."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._drain_timer: threading.Timer | None = None
        keep_large_allocations_unpooled()  # in every worker process

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        # What the app and its lifespan built lives as long as the process: move it out of
        # the collector's sight. Each full collection walked it all, a 50-60 ms pause that
        # was /verify's p99 under load (8 ms after; docs/benchmarks.md).
        gc.collect()
        gc.freeze()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        target = _innermost_app(getattr(self.config, "loaded_app", None))
        if target is not None:
            target.state.draining = True
        delay = _env_float("TESSERA_SHUTDOWN_DELAY_SECONDS", 0)
        if delay > 0 and self._drain_timer is None and not self.should_exit:
            self._drain_timer = threading.Timer(delay, super().handle_exit, args=(sig, frame))
            self._drain_timer.daemon = True
            self._drain_timer.start()
            return
        if self._drain_timer is not None:
            # A second signal while draining: stop waiting for the load balancer.
            self._drain_timer.cancel()
        super().handle_exit(sig, frame)


class _DrainingProcess(multiprocess.Process):
    @property
    def server(self) -> uvicorn.Server:
        if self._server is None:
            self._server = DrainingServer(config=self.config)
        return self._server


class _HasState:
    state: Any


def _innermost_app(app: object) -> _HasState | None:
    # uvicorn wraps the app in middleware (proxy headers, message logger); find the one
    # with ``state`` (FastAPI/Starlette).
    for _ in range(10):
        if app is None:
            return None
        if hasattr(app, "state"):
            return app  # type: ignore[return-value]
        app = getattr(app, "app", None)
    return None
