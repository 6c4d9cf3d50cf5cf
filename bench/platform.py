"""The platform under load: throwaway PostgreSQL and Redis, both services as real
``tessera serve`` processes with production settings (one worker, request logs off), a
second users process over a database of a million users, and the baseline app."""

from __future__ import annotations

import secrets
import sys
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from tessera_core.accounts.listing import UserFilters, page_statement
from tessera_core.ops.migrations import migrate
from tessera_core.tokens.keygen import write_private_key
from tessera_users.admin.service import position_of
from tessera_users.cursor import CursorCodec
from tests.e2e.stack import Proc, Service, base_env, start_service, wait_http
from tests.fixtures.servers import LocalPostgres, LocalRedis, free_port

PASSWORD = "bench-quartz-lantern-1987"
SEED_SQL = """
INSERT INTO "user" (id, username, email, password_hash, nickname, date_joined, is_active, is_admin)
SELECT gen_random_uuid(),
       'u' || substr(md5(i::text), 1, 8) || i,
       'u' || substr(md5(i::text), 1, 8) || i
           || '@' || substr(md5((i % 997)::text), 1, 6) || '.example',
       '$argon2id$v=19$m=65536,t=3,p=4$YmVuY2hzYWx0$YmVuY2hoYXNoYmVuY2hoYXNoYmVuY2g',
       'nick' || (i % 5000),
       timestamptz '2020-01-01' + make_interval(secs => i * 60),
       i % 50 <> 0,
       false
FROM generate_series(1, :n) AS i
"""


def seed(server: LocalPostgres, database: str, size: int) -> str:
    """A migrated database with ``size`` users (one INSERT ... SELECT, no hashing; the
    listing indexes built in bulk afterwards, as ``CREATE INDEX`` on a loaded table)."""
    server.psql("postgres", f"CREATE DATABASE {database}")
    url = server.url(database)
    started = time.perf_counter()
    migrate(url, "0001")
    server.psql(database, f"SET synchronous_commit = off; {SEED_SQL.replace(':n', str(size))}")
    migrate(url, "head")
    server.psql(database, 'VACUUM ANALYZE "user"')
    print(f"seeded {size:>9,} users in {time.perf_counter() - started:5.1f} s", flush=True)
    return url


def process_cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes and their live children (PostgreSQL backends)."""
    clock = 100.0  # os.sysconf("SC_CLK_TCK") on Linux
    wanted = set(pids)
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(stat.parent.name), int(fields[1])
        if pid in wanted or ppid in wanted:
            total += (int(fields[11]) + int(fields[12])) / clock
    return total


def rss_mib(pid: int) -> dict[str, float]:
    """Resident memory now and at its peak (VmRSS, VmHWM)."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values["now" if name == "VmRSS" else "peak"] = round(int(rest.split()[0]) / 1024, 1)
    return values


@dataclass
class Platform:
    directory: Path
    listing_sizes: tuple[int, int]
    exits: ExitStack = field(default_factory=ExitStack)
    services: dict[str, Service] = field(default_factory=dict)
    postgres: LocalPostgres | None = None
    redis: LocalRedis | None = None
    cursor_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    user_tokens: dict[str, str] = field(default_factory=dict)
    admin_tokens: dict[str, str] = field(default_factory=dict)
    # The user's personal access token (scope profile:read), beside the JWT of user_tokens.
    personal_token: str = ""
    username: str = ""
    deep_cursors: dict[str, str] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return self.services[name].url

    def pids(self, name: str) -> list[int]:
        if name == "postgres":
            assert self.postgres is not None
            return [int((self.postgres.data_dir / "postmaster.pid").read_text().split()[0])]
        if name == "redis":
            assert self.redis is not None
            assert self.redis.process is not None
            return [self.redis.process.pid]
        return [self.services[name].proc.pid]

    def __enter__(self) -> Platform:
        try:
            self._start()
        except BaseException:
            self.exits.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.exits.close()

    def _start(self) -> None:
        self.postgres = LocalPostgres().start()
        self.exits.callback(self.postgres.stop)
        self.redis = LocalRedis().start()
        self.exits.callback(self.redis.stop)
        small, large = self.listing_sizes
        urls = {
            "small": seed(self.postgres, "bench_small", small),
            "large": seed(self.postgres, "bench_large", large),
        }
        keys = self.directory / "keys"
        keys.mkdir(parents=True, exist_ok=True)
        write_private_key(keys, "RS256")
        auth_port = free_port()
        jwks = f"http://127.0.0.1:{auth_port}/.well-known/jwks.json"

        def env(database: str, **extra: str) -> dict[str, str]:
            values = base_env()
            values.update(
                TESSERA_ENV="production",
                TESSERA_DATABASE_URL=database,
                TESSERA_REDIS_URL=self.redis.url() if self.redis else "",
                TESSERA_ISSUER="http://bench.tessera.test",
                TESSERA_AUDIENCE="tessera-bench",
                TESSERA_CURSOR_SECRET=self.cursor_secret,
                TESSERA_LOG_LEVEL="WARNING",  # no request log lines: access logs off
                TESSERA_LOG_FORMAT="json",
                **extra,
            )
            return values

        # All four start at once and are waited for together: each spends a second or two
        # importing, which the two cores do side by side.
        self._serve("auth", env(urls["small"], TESSERA_KEYS_DIR=str(keys)), port=auth_port)
        self._serve("users", env(urls["small"], TESSERA_JWKS_URL=jwks))
        self._serve("users_large", env(urls["large"], TESSERA_JWKS_URL=jwks), name="users")
        self._serve_baseline()
        for key, service in self.services.items():
            wait_http(
                f"{service.url}/{'healthz' if key == 'baseline' else 'readyz'}", proc=service.proc
            )
        self._sign_in(urls)

    def _serve(
        self, key: str, env: dict[str, str], *, port: int | None = None, name: str | None = None
    ) -> None:
        service = start_service(
            name or key,
            env,
            self.directory,
            port=port,
            suffix="" if name is None else "-1m",
            wait=False,
        )
        self.exits.callback(service.proc.stop)
        self.services[key] = service

    def _serve_baseline(self) -> None:
        port = free_port()
        code = (
            "from tessera_core.ops.serve import serve; "
            f"serve('bench.baseline:create_app', host='127.0.0.1', port={port})"
        )
        root = Path(__file__).resolve().parents[1]
        env = {**base_env(), "PYTHONPATH": str(root)}
        proc = Proc("baseline", [sys.executable, "-c", code], env, self.directory / "b.log")
        proc.start()
        self.exits.callback(proc.stop)
        self.services["baseline"] = Service("baseline", port, proc)

    def _sign_in(self, urls: dict[str, str]) -> None:
        """A user and an admin (the admin in both databases, same id), and the deep-page
        cursors of each database."""
        auth = self.url("auth")
        self.username = f"bench{uuid.uuid4().hex[:8]}"
        admin = f"admin{uuid.uuid4().hex[:8]}"
        for name in (self.username, admin):
            body = {"username": name, "email": f"{name}@bench.example", "password": PASSWORD}
            response = httpx.post(f"{auth}/api/v1/auth/register", json=body, timeout=30)
            response.raise_for_status()
        with create_engine(urls["small"]).begin() as conn:
            conn.execute(
                text('UPDATE "user" SET is_admin = true WHERE username = :u'), {"u": admin}
            )
            row = conn.execute(text('SELECT * FROM "user" WHERE username = :u'), {"u": admin})
            admin_row = dict(row.mappings().one())
        with create_engine(urls["large"]).begin() as conn:
            columns = ", ".join(f'"{c}"' for c in admin_row)
            values = ", ".join(f":{c}" for c in admin_row)
            conn.execute(text(f'INSERT INTO "user" ({columns}) VALUES ({values})'), admin_row)
        self.user_tokens = self.login(self.username)
        self.admin_tokens = self.login(admin)
        created = httpx.post(
            f"{auth}/api/v1/auth/tokens",
            json={"name": "bench", "scope": "profile:read"},
            headers={"Authorization": f"Bearer {self.user_tokens['access_token']}"},
            timeout=30,
        )
        created.raise_for_status()
        self.personal_token = created.json()["token"]
        for size, url in urls.items():
            self.deep_cursors[size] = middle_cursor(url, CursorCodec(self.cursor_secret.encode()))

    def login(self, username: str) -> dict[str, str]:
        response = httpx.post(
            f"{self.url('auth')}/api/v1/auth/login",
            json={"username": username, "password": PASSWORD},
            timeout=30,
        )
        response.raise_for_status()
        tokens: dict[str, str] = response.json()
        return tokens


def middle_cursor(url: str, codec: CursorCodec) -> str:
    """The cursor a client holds after paging halfway through the default ordering (found
    with OFFSET once; the measured request itself is a keyset page)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            count = conn.scalar(text('SELECT count(*) FROM "user"')) or 0
            statement = page_statement(UserFilters(), "date_joined", None, 1)
            user = dict(conn.execute(statement.offset(count // 2)).mappings().one())
            return codec.encode({"o": "date_joined", "k": position_of(user, "date_joined")})
    finally:
        engine.dispose()
