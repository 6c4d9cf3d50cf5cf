"""Users listing latency at 10 thousand and at 1 million users.

Starts a throwaway PostgreSQL, seeds each size with one INSERT ... SELECT (no API, no
password hashing), builds the listing indexes in bulk (migration 0002 after the seed, as
``CREATE INDEX`` on a loaded table), and times the users service's own listing function:
the first page and a deep keyset page of every ordering, and a selective search. Keyset
pagination should make each page cost about the same at both sizes (ratio within 1.5x).

Run from the repository root: ``uv run python -m bench``.
"""

from __future__ import annotations

import asyncio
import resource
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from functools import partial

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from tessera_core.migrations import migrate
from tessera_core.models import User
from tessera_users.admin.cursor import CursorCodec
from tessera_users.admin.repository import UserFilters, UserListRepository
from tessera_users.admin.schemas import Ordering
from tessera_users.admin.service import UserListQuery, list_users, position_of
from tests.fixtures.servers import LocalPostgres, ServerUnavailable

SIZES = (10_000, 1_000_000)
ORDERINGS: tuple[Ordering, ...] = ("date_joined", "-date_joined", "username", "-username")
RUNS = 200
WARMUP = 20
RATIO_TARGET = 1.5
CODEC = CursorCodec(b"bench-cursor-secret-0123456789abcdef")
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
       i % 20000 = 0
FROM generate_series(1, :n) AS i
"""


async def _median_ms(call: Callable[[], Awaitable[object]]) -> float:
    for _ in range(WARMUP):
        await call()
    timings = []
    for _ in range(RUNS):
        start = time.perf_counter()
        await call()
        timings.append((time.perf_counter() - start) * 1000)
    return statistics.median(timings)


async def _page(engine: AsyncEngine, query: UserListQuery) -> int:
    async with AsyncSession(engine) as session:
        page = await list_users(UserListRepository(session), CODEC, query)
    return len(page.items)


async def _cursor_at_middle(engine: AsyncEngine, ordering: Ordering, size: int) -> str:
    """The cursor a client holds after paging halfway through (set up with OFFSET once;
    the timed query itself is a keyset page)."""
    from sqlalchemy.ext.asyncio import AsyncSession

    async with AsyncSession(engine) as session:
        statement = UserListRepository(session).page_statement(UserFilters(), ordering, None, 1)
        user = (await session.scalars(statement.offset(size // 2))).one()
        return CODEC.encode({"o": ordering, "k": position_of(user, ordering)})


async def measure(url: str, size: int) -> dict[str, float]:
    engine = create_async_engine(url, pool_size=2)
    results: dict[str, float] = {}
    try:
        async with engine.connect() as conn:
            middle = (
                await conn.execute(
                    text('SELECT username FROM "user" ORDER BY date_joined OFFSET :n LIMIT 1'),
                    {"n": size // 2},
                )
            ).scalar_one()
        for ordering in ORDERINGS:
            first = UserListQuery(ordering=ordering)
            results[f"{ordering} first page"] = await _median_ms(partial(_page, engine, first))
            deep = UserListQuery(
                ordering=ordering, cursor=await _cursor_at_middle(engine, ordering, size)
            )
            results[f"{ordering} deep page"] = await _median_ms(partial(_page, engine, deep))
        search = UserListQuery(filters=UserFilters(search=middle[1:8].upper()))
        assert await _page(engine, search) >= 1
        results["search (selective)"] = await _median_ms(lambda: _page(engine, search))
        common = UserListQuery(filters=UserFilters(search="nick42"))
        results["search (common)"] = await _median_ms(lambda: _page(engine, common))
        admins = UserListQuery(ordering="username", filters=UserFilters(is_admin=True))
        results["is_admin=true, username"] = await _median_ms(lambda: _page(engine, admins))
    finally:
        await engine.dispose()
    return results


def seed(server: LocalPostgres, size: int) -> str:
    database = f"bench_{size}"
    server.psql("postgres", f"CREATE DATABASE {database}")
    url = server.url(database)
    started = time.perf_counter()
    migrate(url, "0001")
    sql = SEED_SQL.replace(":n", str(size))
    server.psql(database, f"SET synchronous_commit = off; {sql}")
    migrate(url, "head")  # builds the 0002 indexes in bulk over the loaded table
    server.psql(database, 'VACUUM ANALYZE "user"')
    print(f"seeded {size:>9,} users in {time.perf_counter() - started:5.1f} s", flush=True)
    return url


def main() -> int:
    assert User.__tablename__ == "user"
    try:
        server = LocalPostgres().start()
    except ServerUnavailable as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    began = time.perf_counter()
    try:
        server.psql("postgres", "ALTER SYSTEM SET maintenance_work_mem = '256MB'")
        server.psql("postgres", "SELECT pg_reload_conf()")
        figures = {size: asyncio.run(measure(seed(server, size), size)) for size in SIZES}
    finally:
        server.stop()
    small, large = figures[SIZES[0]], figures[SIZES[1]]
    print()
    print(f"{f'users listing (median of {RUNS})':<32} {'10k ms':>8} {'1M ms':>8} {'1M/10k':>7}")
    worst = 0.0
    for case in small:
        ratio = large[case] / small[case]
        worst = max(worst, ratio)
        flag = "" if ratio <= RATIO_TARGET else "  <-- over target"
        print(f"{case:<32} {small[case]:8.2f} {large[case]:8.2f} {ratio:7.2f}{flag}")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print()
    print(
        f"worst ratio {worst:.2f} (target <= {RATIO_TARGET}); peak RSS of the bench process "
        f"{peak_mib:.0f} MiB; total {time.perf_counter() - began:.0f} s"
    )
    return 0 if worst <= RATIO_TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
