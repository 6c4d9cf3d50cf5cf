"""Run a service under uvicorn, draining gracefully on SIGTERM.

On SIGTERM readiness turns false at once (``app.state.draining``); the server then waits
``TESSERA_SHUTDOWN_DELAY_SECONDS`` so load balancers stop sending new requests, and
uvicorn finishes the requests in flight before the process exits.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import uvicorn


def _prepare_multiprocess_metrics(workers: int) -> None:
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="tessera-metrics-")
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        for stale in Path(directory).glob("*.db"):
            stale.unlink()


def serve(factory: str, *, host: str, port: int, workers: int = 1) -> int:
    """Run ``factory`` (``module:create_app``) with ``workers`` processes."""
    _prepare_multiprocess_metrics(workers)
    config = uvicorn.Config(
        factory,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
        forwarded_allow_ips=os.environ.get("TESSERA_FORWARDED_ALLOW_IPS", "127.0.0.1"),
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=int(os.environ.get("TESSERA_GRACEFUL_TIMEOUT_SECONDS", "20")),
        server_header=False,
    )
    if workers > 1:
        uvicorn.Multiprocess(config, target=DrainingServer(config).run, sockets=[config.bind_socket()]).run()
    else:
        DrainingServer(config).run()
    return 0


class DrainingServer(uvicorn.Server):
    def handle_exit(self, sig: int, frame: object) -> None:
        app = getattr(self.config, "loaded_app", None)
        target = _innermost_app(app)
        if target is not None and hasattr(target, "state"):
            target.state.draining = True
        delay = float(os.environ.get("TESSERA_SHUTDOWN_DELAY_SECONDS", "0"))
        if delay > 0 and not self.should_exit:
            import threading

            threading.Timer(delay, super().handle_exit, args=(sig, frame)).start()
            return
        super().handle_exit(sig, frame)  # type: ignore[arg-type]


def _innermost_app(app: object) -> object | None:
    # uvicorn wraps the app in middleware (proxy headers, lifespan); find the FastAPI app.
    seen = 0
    while app is not None and seen < 10 and not hasattr(app, "state"):
        app = getattr(app, "app", None)
        seen += 1
    return app
