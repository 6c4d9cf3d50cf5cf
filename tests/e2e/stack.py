"""The e2e stack: both services as real ``tessera serve`` processes, Debian nginx rendered
from ``deploy/gateway`` and Debian prometheus with ``deploy/prometheus``, all on 127.0.0.1.

The commands come from ``docker-compose.yml`` wherever compose defines them (migrate,
keys, healthchecks), so what compose runs is what these tests run.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy import create_engine, text

from tessera_devstack import network
from tessera_devstack.errors import DevStackError
from tessera_devstack.gateway import nginx_command, write_nginx_config
from tests.fixtures.servers import IN_CI, free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
GATEWAY_TEMPLATE = ROOT / "deploy" / "gateway" / "default.conf.template"
PROMETHEUS_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
BIN_DIR = Path(sys.executable).parent
# Short, so the fault tests see a lost revocation re-asserted within seconds.
RESYNC_SECONDS = 3


def require_binary(name: str) -> str:
    """The path of ``name``; skip without it, but fail in CI (CI installs it)."""
    import pytest

    found = shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin") / name, Path("/usr/bin") / name) if p.exists()), None
    )
    if found:
        return found
    if IN_CI:
        pytest.fail(f"CI=true and {name} is not installed (apt-get install {name})")
    pytest.skip(f"{name} is not installed (apt-get install {name})")


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return loaded


def compose_command(service: str) -> list[str]:
    """``entrypoint + command`` of a compose service, ``$$`` unescaped, ``tessera`` and
    ``python`` resolved to this virtualenv."""
    spec = compose()["services"][service]
    entrypoint = spec.get("entrypoint", ["tessera"])
    command = [*entrypoint, *spec.get("command", [])]
    return [_resolve(part.replace("$$", "$")) for part in command]


def _resolve(part: str) -> str:
    if part == "tessera":
        return str(BIN_DIR / "tessera")
    if part == "python":
        return sys.executable
    return part


def healthcheck_command(service: str) -> list[str]:
    test = compose()["services"][service]["healthcheck"]["test"]
    assert test[0] == "CMD", test
    return [_resolve(part) for part in test[1:]]


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    env["PATH"] = f"{BIN_DIR}{os.pathsep}{env.get('PATH', '')}"
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    return env


@dataclass
class Proc:
    """A child process whose stdout and stderr go to one log file."""

    name: str
    command: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, sig: int) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def exit_status(self, timeout: float) -> int:
        """The exit status once the process ends within ``timeout``; otherwise it is killed
        (so no other test inherits it) and the test fails with the end of its log."""
        try:
            return self.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop(timeout=0)
            raise AssertionError(
                f"{self.name} still ran {timeout:.0f}s later; its log ends:\n{self.log()[-4000:]}"
            ) from None

    def stop(self, timeout: float = 15) -> None:
        if not self.alive():
            return
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for_log(self, text: str, timeout: float = 10) -> str:
        """The log once it contains ``text``: a request's line is written after its response."""
        deadline = time.monotonic() + timeout
        while text not in (log := self.log()) and time.monotonic() < deadline:
            time.sleep(0.05)
        return log


def wait_http(
    url: str, *, proc: Proc | None = None, status: int = 200, timeout: float = 60
) -> None:
    """``tessera_devstack.network.wait_http``, with the process's log in the failure."""
    try:
        alive = proc.alive if proc else (lambda: True)
        network.wait_http(url, timeout=timeout, expect=status, alive=alive)
    except DevStackError as exc:
        log = f"\n{proc.name} log:\n{proc.log()[-4000:]}" if proc else ""
        raise RuntimeError(f"{exc}{log}") from exc


@dataclass
class DevRun:
    """A running ``tessera-dev`` launcher, its ports and the admin it created."""

    launcher: Proc
    ports: dict[str, int]
    admin: dict[str, str]

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"


def start_dev(directory: Path, *, path: str | None = None, timeout: float = 180) -> DevRun:
    """``tessera-dev`` (``make dev``) with its state in ``directory/.dev``, on free ports (and ``path`` as
    its PATH if given), once it has printed ``ready.``; stopped again if it never does."""
    ports = {name: free_port() for name in ("gateway", "auth", "users")}
    env = {
        **base_env(),
        "TESSERA_DEV_DIR": str(directory / ".dev"),
        "TESSERA_DEV_GATEWAY_PORT": str(ports["gateway"]),
        "TESSERA_DEV_AUTH_PORT": str(ports["auth"]),
        "TESSERA_DEV_USERS_PORT": str(ports["users"]),
    }
    if path is not None:
        env["PATH"] = path
    launcher = Proc("tessera-dev", [str(BIN_DIR / "tessera-dev")], env, directory / "dev.log")
    launcher.start()
    try:
        deadline = time.monotonic() + timeout
        while "ready." not in launcher.log():
            assert launcher.alive(), launcher.log()
            assert time.monotonic() < deadline, launcher.log()
            time.sleep(0.2)
    except BaseException:
        launcher.stop()
        raise
    admin_file = directory / ".dev" / "admin.txt"
    admin = dict(line.split("=", 1) for line in admin_file.read_text().splitlines() if "=" in line)
    return DevRun(launcher, ports, admin)


@dataclass
class Backends:
    database_url: str
    redis_url: str
    keys_dir: Path
    postgres: Any
    redis: Any


@dataclass
class Service:
    name: str
    port: int
    proc: Proc

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


MAIL_LINK_BASE = "https://app.e2e.test"
# The auth service's second-factor key (TESSERA_FACTOR_KEY): one per run, not one per
# process, since every auth process on the same database (replicas, restarts) must open the
# TOTP secrets another one sealed. The users service never gets it.
FACTOR_KEY = secrets.token_urlsafe(32)


def service_env(
    name: str,
    backends: Backends,
    *,
    issuer: str,
    auth_port: int,
    smtp_port: int | None = None,
    webauthn_origin: str | None = None,
) -> dict[str, str]:
    """A service's environment; ``smtp_port`` points the auth service's mail delivery at
    an SMTP server on loopback (plain SMTP, polled often); ``webauthn_origin`` is the one
    origin the auth service takes passkey ceremonies from (``Gateway.browser_url``)."""
    env = base_env()
    env.update(
        TESSERA_ENV="test",
        TESSERA_SERVICE_NAME=name,
        TESSERA_DATABASE_URL=backends.database_url,
        TESSERA_REDIS_URL=backends.redis_url,
        TESSERA_ISSUER=issuer,
        TESSERA_AUDIENCE="tessera-e2e",
        TESSERA_LOG_FORMAT="json",
        TESSERA_PASSWORD_HASH_THREADS="2",
        # argon2id at its floor, as in-process tests run it (tests.fixtures.apps.CHEAP_ARGON2).
        TESSERA_PASSWORD_HASH_MEMORY_KIB="8",
        TESSERA_PASSWORD_HASH_TIME_COST="1",
        TESSERA_CURSOR_SECRET=secrets.token_urlsafe(32),
        TESSERA_REVOCATION_RESYNC_SECONDS=str(RESYNC_SECONDS),
        # As in-process tests (tests.fixtures.apps): a loaded CI machine can stall a call
        # past production's 1 s with Redis healthy; Redis stopped is refused at once.
        TESSERA_REDIS_TIMEOUT_SECONDS="5",
    )
    env["TESSERA_MAIL_LINK_BASE"] = MAIL_LINK_BASE
    # Every e2e client is 127.0.0.1 to the services (behind the gateway), the fuzzer too:
    # the per-client limit on reset requests would otherwise end the run's resets early.
    env["TESSERA_MAIL_REQUESTS_PER_CLIENT"] = "100000"
    env["TESSERA_REGISTRATIONS_PER_CLIENT"] = "100000"
    # A personal access token's last use is written every interval (60 s by default): short
    # here, so a browser test sees it within a wait rather than a minute.
    env["TESSERA_PAT_LAST_USED_FLUSH_SECONDS"] = "0.5"
    if name == "auth":
        env["TESSERA_KEYS_DIR"] = str(backends.keys_dir)
        env["TESSERA_FACTOR_KEY"] = FACTOR_KEY
        # Service accounts' jwks_uri served by the tests themselves, on loopback.
        env["TESSERA_OUTBOUND_ALLOW"] = '["127.0.0.1"]'
        if webauthn_origin is not None:
            env["TESSERA_WEBAUTHN_RP_ID"] = "localhost"
            env["TESSERA_WEBAUTHN_ORIGINS"] = json.dumps([webauthn_origin])
        if smtp_port is not None:
            env.update(
                TESSERA_SMTP_HOST="127.0.0.1",
                TESSERA_SMTP_PORT=str(smtp_port),
                TESSERA_SMTP_TLS="none",
                TESSERA_MAIL_POLL_SECONDS="0.2",
                TESSERA_MAIL_BACKOFF_SECONDS="0.5",
                TESSERA_MAIL_BACKOFF_MAX_SECONDS="1",
            )
    else:
        env["TESSERA_JWKS_URL"] = f"http://127.0.0.1:{auth_port}/.well-known/jwks.json"
    return env


def start_service(
    name: str,
    env: dict[str, str],
    directory: Path,
    *,
    port: int | None = None,
    workers: int = 1,
    wait: bool = True,
    suffix: str = "",
) -> Service:
    port = port or free_port()
    command = [
        str(BIN_DIR / "tessera"),
        "serve",
        name,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    proc = Proc(f"{name}{suffix}", command, env, directory / f"{name}{suffix}.log").start()
    service = Service(name, port, proc)
    if wait:
        wait_http(f"{service.url}/readyz", proc=proc)
    return service


@dataclass
class Gateway:
    port: int
    proc: Proc
    directory: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def browser_url(self) -> str:
        """The gateway as a browser must name it for passkeys: WebAuthn wants the page's
        host to be the relying party id (``localhost``), and an IP address never is one."""
        return f"http://localhost:{self.port}"


def upstream(ports: int | list[int]) -> str:
    """The template's ``server`` value for one port or several replicas (nginx balances)."""
    listed = [ports] if isinstance(ports, int) else ports
    return "; server ".join(f"127.0.0.1:{port}" for port in listed)


def start_gateway(
    directory: Path, *, auth_port: int | list[int], users_port: int | list[int]
) -> Gateway:
    require_binary("nginx")
    port = free_port()
    main = write_nginx_config(
        directory / "gateway",
        template=GATEWAY_TEMPLATE,
        listen=f"127.0.0.1:{port}",
        auth=upstream(auth_port),
        users=upstream(users_port),
    )
    proc = Proc("nginx", nginx_command(main), base_env(), directory / "nginx.log").start()
    wait_for_port(port, timeout=20)
    return Gateway(port, proc, directory / "gateway")


@dataclass
class Replicated:
    """Two replicas of each service and a gateway in front of both (``replicated``)."""

    services: list[Service]  # auth, its second replica, users, its second replica
    gateway: Gateway


@contextlib.contextmanager
def replicated(stack: Stack, directory: Path, suffix: str) -> Iterator[Replicated]:
    """A second replica of each of ``stack``'s services, on its stores, and a gateway that
    balances between both replicas of each; all of them stopped on exit."""
    started: list[Proc] = []

    def replica(name: str) -> Service:
        env = service_env(name, stack.backends, issuer=stack.gateway.url, auth_port=stack.auth.port)
        service = start_service(name, env, directory, suffix=suffix, wait=False)
        started.append(service.proc)
        return service

    try:
        # Both start at once (importing takes each a second or two), then both are waited for.
        second_auth, second_users = replica("auth"), replica("users")
        for service in (second_auth, second_users):
            wait_http(f"{service.url}/readyz", proc=service.proc)
        gateway = start_gateway(
            directory,
            auth_port=[stack.auth.port, second_auth.port],
            users_port=[stack.users.port, second_users.port],
        )
        started.append(gateway.proc)
        yield Replicated([stack.auth, second_auth, stack.users, second_users], gateway)
    finally:
        for proc in started:
            proc.stop()


@dataclass
class Prometheus:
    port: int
    proc: Proc

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def query(self, expr: str) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=5)
        response.raise_for_status()
        body = response.json()
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result


def start_prometheus(directory: Path, targets: dict[str, int]) -> Prometheus:
    """Prometheus with ``deploy/prometheus/prometheus.yml`` as is; only the file_sd
    targets are ours (1s scrapes)."""
    binary = require_binary("prometheus")
    config_dir = directory / "prometheus"
    (config_dir / "targets").mkdir(parents=True)
    shutil.copy(PROMETHEUS_CONFIG, config_dir / "prometheus.yml")
    for job, port in targets.items():
        (config_dir / "targets" / f"{job}.yml").write_text(
            yaml.safe_dump(
                [
                    {
                        "targets": [f"127.0.0.1:{port}"],
                        "labels": {"__scrape_interval__": "1s", "__scrape_timeout__": "1s"},
                    }
                ]
            )
        )
    port = free_port()
    proc = Proc(
        "prometheus",
        [
            binary,
            f"--config.file={config_dir / 'prometheus.yml'}",
            f"--storage.tsdb.path={config_dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        base_env(),
        directory / "prometheus.log",
    ).start()
    wait_http(f"http://127.0.0.1:{port}/-/ready", proc=proc, timeout=60)
    return Prometheus(port, proc)


def run_sql(stack: Stack, sql: str, **params: object) -> list[tuple[Any, ...]]:
    """Run one statement on the stack's database, committed; its rows, if any."""
    engine = create_engine(stack.backends.database_url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(sql), params)
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()


@dataclass
class Stack:
    backends: Backends
    auth: Service
    users: Service
    gateway: Gateway
    prometheus: Prometheus | None
    directory: Path
    extra: list[Proc] = field(default_factory=list)
    # The SMTP server the auth service delivers to (tests.fixtures.smtp.SmtpServer).
    smtp: Any = None

    def processes(self) -> list[Proc]:
        return [self.auth.proc, self.users.proc, self.gateway.proc, *self.extra]

    def all_logs(self) -> str:
        """Everything any process of the stack has logged (all log files of the run)."""
        return "\n".join(
            p.read_text(errors="replace") for p in sorted(self.directory.rglob("*.log"))
        )
