"""Local ports and readiness: shared by the launcher, the e2e tests and the benchmark."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from tessera_devstack.errors import DevStackError

__all__ = ["free_port", "wait_http"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now.

    Example:
        >>> 1024 <= free_port() <= 65535
        True
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_http(
    url: str, *, timeout: float, expect: int = 200, alive: Callable[[], bool] = lambda: True
) -> None:
    """Poll ``url`` until it answers ``expect``; raise if ``alive()`` turns false or on timeout."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if not alive():
            raise DevStackError(f"the process behind {url} exited ({last})")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (local URL)
                if response.status == expect:
                    return
                last = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
            if exc.code == expect:
                return
        except OSError as exc:
            last = type(exc).__name__
        time.sleep(0.2)
    raise DevStackError(f"{url} did not answer {expect} within {timeout:.0f}s ({last})")
