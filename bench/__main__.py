"""``make bench``: requests/s, p50 and p99 of every hot path, each as a ratio to a bare
FastAPI app measured in the same run, plus peak RSS and PostgreSQL/Redis CPU per request.

    uv run python -m bench            # 10 s x 3 repeats, listing at 10k and 1M users
    uv run python -m bench --quick    # under a minute: proves the harness works
    uv run python -m bench --json bench-results.json

Everything runs on this machine: wrk and the servers share its cores, as they do in the
measurements of docs/benchmarks.md. Thresholds live in the docs, not in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from argon2 import PasswordHasher as Argon2Hasher

from bench import wrk
from bench.platform import PASSWORD, Platform, process_cpu_seconds, rss_mib
from tessera_core.accounts.passwords import owasp_argon2


@dataclass(frozen=True)
class Mode:
    seconds: float
    repeats: int
    warmup: float
    connections: int
    sizes: tuple[int, int]


FULL = Mode(seconds=10, repeats=3, warmup=3, connections=32, sizes=(10_000, 1_000_000))
# Quick proves the harness runs (CI): no warm-up, whose shortest wrk run is a second anyway,
# and 8 connections, so refresh logs in 16 sessions before its run, not 64 (~6 s).
QUICK = Mode(seconds=1, repeats=1, warmup=0, connections=8, sizes=(10_000, 20_000))


@dataclass(frozen=True)
class Scenario:
    name: str
    service: str
    load: wrk.Load | Callable[[], wrk.Load]  # a callable builds each run's load afresh
    target: float | None = None  # minimum ratio to the baseline (docs/benchmarks.md)
    connections: int | None = None  # the mode's unless set
    # Another scenario of this run that this one is held to (its req/s as a ratio to that
    # one's), with the minimum ratio: a personal access token against a JWT.
    versus: tuple[str, float] | None = None

    def next_load(self) -> wrk.Load:
        return self.load if isinstance(self.load, wrk.Load) else self.load()


@dataclass
class Figures:
    name: str
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    ratio: float
    non_2xx: int
    errors: int
    postgres_ms_per_request: float
    redis_ms_per_request: float
    # The measured service's own CPU per request: steadier than req/s on a shared machine.
    service_ms_per_request: float = 0.0
    target: float | None = None
    note: str = ""


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("Authorization", f"Bearer {token}"),)


def rotating_refresh(platform: Platform, sessions: int) -> Callable[[], wrk.Load]:
    """Each run spends its own live refresh tokens: a token spent by the warm-up would be
    a reuse in the next run (and revoke its session)."""

    def load() -> wrk.Load:
        tokens = tuple(platform.login(platform.username)["refresh_token"] for _ in range(sessions))
        return wrk.Load("", refresh_tokens=tokens)

    return load


def scenarios(platform: Platform, mode: Mode) -> list[Scenario]:
    user = bearer(platform.user_tokens["access_token"])
    admin = bearer(platform.admin_tokens["access_token"])
    pat = bearer(platform.personal_token)
    login_body = json.dumps({"username": platform.username, "password": PASSWORD})
    listing = "/api/v1/users?limit=20"
    small, large = platform.listing_sizes
    return [
        Scenario("baseline /healthz", "baseline", wrk.Load("/healthz")),
        Scenario("/healthz", "auth", wrk.Load("/healthz")),
        Scenario("/verify", "auth", wrk.Load("/api/v1/auth/verify", headers=user), 0.50),
        Scenario("/me", "users", wrk.Load("/api/v1/users/me", headers=user), 0.35),
        Scenario(
            "/verify (PAT)",
            "auth",
            wrk.Load("/api/v1/auth/verify", headers=pat),
            versus=("/verify", 0.90),
        ),
        Scenario(
            "/me (PAT)", "users", wrk.Load("/api/v1/users/me", headers=pat), versus=("/me", 0.90)
        ),
        Scenario("refresh", "auth", rotating_refresh(platform, 2 * mode.connections), 0.25),
        Scenario(f"listing first page, {small:,}", "users", wrk.Load(listing, headers=admin), 0.25),
        Scenario(
            f"listing deep page, {small:,}",
            "users",
            wrk.Load(f"{listing}&cursor={platform.deep_cursors['small']}", headers=admin),
        ),
        Scenario(f"listing first page, {large:,}", "users_large", wrk.Load(listing, headers=admin)),
        Scenario(
            f"listing deep page, {large:,}",
            "users_large",
            wrk.Load(f"{listing}&cursor={platform.deep_cursors['large']}", headers=admin),
        ),
        Scenario(
            "login",
            "auth",
            wrk.Load(
                "/api/v1/auth/login",
                method="POST",
                body=login_body,
                headers=(("Content-Type", "application/json"),),
            ),
            # Hashing bounds it: 4 logins in flight per core keep every core busy; more only
            # queue (and 32 queued hashes take longer than a quick run lasts).
            connections=4 * (os.cpu_count() or 1),
        ),
    ]


def profile(pid: int, seconds: float, output: Path) -> subprocess.Popen[bytes]:
    """py-spy samples the service while the first timed run loads it: collapsed stacks
    (the input of flamegraph.pl, inferno and speedscope) of exactly what the table
    measures."""
    output.parent.mkdir(parents=True, exist_ok=True)
    # The workspace's py-spy, also when the venv is not on PATH (``.venv/bin/python -m bench``).
    beside_python = Path(sys.executable).with_name("py-spy")
    py_spy = str(beside_python) if beside_python.exists() else "py-spy"
    command = [
        *(py_spy, "record", "--pid", str(pid), "--duration", str(max(1, int(seconds)))),
        *("--rate", "250", "--nonblocking", "--format", "raw", "--output", str(output)),
    ]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)


def measure(
    platform: Platform,
    scenario: Scenario,
    mode: Mode,
    baseline: float,
    profiles: Path | None = None,
) -> Figures:
    url = platform.url(scenario.service)
    connections = scenario.connections or mode.connections
    if mode.warmup:
        wrk.run(url, scenario.next_load(), seconds=mode.warmup, connections=connections)
    runs: list[wrk.Result] = []
    cpu = {"postgres": 0.0, "redis": 0.0, scenario.service: 0.0}
    health: list[wrk.Result] = []
    sampler = None
    for repeat in range(mode.repeats):
        load = scenario.next_load()  # before the sampler: refresh's load logs in to build
        if profiles is not None and repeat == 0:
            slug = re.sub(r"[^a-z0-9]+", "-", scenario.name.lower()).strip("-")
            sampler = profile(
                platform.pids(scenario.service)[0], mode.seconds, profiles / f"{slug}.txt"
            )
        before = {name: process_cpu_seconds(platform.pids(name)) for name in cpu}
        probe = None
        if scenario.name == "login":
            # /healthz must stay fast while every core hashes passwords.
            probe = wrk.start(
                platform.url("auth"), wrk.Load("/healthz"), seconds=mode.seconds, connections=2
            )
        runs.append(wrk.run(url, load, seconds=mode.seconds, connections=connections))
        if probe is not None:
            health.append(wrk.finish(probe))
        for name in cpu:
            cpu[name] += process_cpu_seconds(platform.pids(name)) - before[name]
        if sampler is not None:
            sampler.wait()
            sampler = None
    middle = sorted(runs, key=lambda r: r.rps)[len(runs) // 2]
    requests = sum(r.requests for r in runs)
    figures = Figures(
        name=scenario.name,
        requests=requests,
        rps=middle.rps,
        p50_ms=middle.p50_ms,
        p99_ms=middle.p99_ms,
        ratio=middle.rps / baseline if baseline else 1.0,
        non_2xx=sum(r.non_2xx for r in runs),
        errors=sum(r.errors for r in runs),
        postgres_ms_per_request=cpu["postgres"] * 1000 / max(1, requests),
        redis_ms_per_request=cpu["redis"] * 1000 / max(1, requests),
        service_ms_per_request=cpu[scenario.service] * 1000 / max(1, requests),
        target=scenario.target,
    )
    if health:
        worst = max(h.p99_ms for h in health)
        figures.note = f"/healthz p99 during it {worst:.1f} ms (target < 25)"
    return figures


def argon2_seconds() -> float:
    """One argon2id verification with the services' parameters, median of 7."""
    hasher: Argon2Hasher = owasp_argon2()
    digest = hasher.hash(PASSWORD)
    timings = []
    for _ in range(7):
        started = time.perf_counter()
        hasher.verify(digest, PASSWORD)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def table(results: list[Figures], mode: Mode, extra: dict[str, object]) -> str:
    header = (
        f"{'scenario':<30} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'ratio':>6} "
        f"{'target':>6} {'svc ms/req':>10} {'pg ms/req':>9} {'redis ms/req':>12} {'non-2xx':>7}"
    )
    lines = [header, "-" * len(header)]
    for f in results:
        target = f"{f.target:.2f}" if f.target is not None else ""
        flag = "  <-- under target" if f.target is not None and f.ratio < f.target else ""
        lines.append(
            f"{f.name:<30} {f.rps:8.0f} {f.p50_ms:7.2f} {f.p99_ms:7.2f} {f.ratio:6.2f} "
            f"{target:>6} {f.service_ms_per_request:10.3f} {f.postgres_ms_per_request:9.3f} "
            f"{f.redis_ms_per_request:12.3f} "
            f"{f.non_2xx + f.errors:7d}{flag}"
        )
        if f.note:
            lines.append(f"{'':<30} {f.note}")
    lines.append("")
    lines.extend(f"{key}: {value}" for key, value in extra.items())
    lines.append(
        f"mode: {mode.seconds:g} s x {mode.repeats}, {mode.connections} connections, "
        f"{os.cpu_count()} cores; ratio = req/s / baseline req/s of this run"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1 s runs, 20k users")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--only",
        metavar="TEXT",
        help="run the scenarios whose name contains TEXT (and the baseline)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="write py-spy collapsed stacks of each scenario's first timed run into DIR",
    )
    args = parser.parse_args(argv)
    mode = QUICK if args.quick else FULL
    began = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="tessera-bench-") as directory,
        Platform(Path(directory), mode.sizes) as platform,
    ):
        results: list[Figures] = []
        baseline = 0.0
        chosen = [
            s
            for s in scenarios(platform, mode)
            if s.service == "baseline" or not args.only or args.only in s.name
        ]
        for scenario in chosen:
            figures = measure(platform, scenario, mode, baseline, args.profile)
            if scenario.service == "baseline":
                baseline = figures.rps
                figures.ratio = 1.0
            if scenario.versus is not None:
                other, minimum = scenario.versus
                held = next((f for f in results if f.name == other), None)
                if held is not None and held.rps and held.service_ms_per_request:
                    figures.note = (
                        f"{figures.rps / held.rps:.2f}x {other} with a JWT in req/s "
                        f"(target >= {minimum:.2f}); service CPU per request "
                        f"{figures.service_ms_per_request / held.service_ms_per_request:.2f}x "
                        "the JWT's"
                    )
            results.append(figures)
            print(f"  {figures.name}: {figures.rps:.0f} req/s", flush=True)
        login = next((f for f in results if f.name == "login"), None)
        if login is not None:
            hash_seconds = argon2_seconds()
            login.ratio = login.rps / ((os.cpu_count() or 1) / hash_seconds)
            login.target = 0.80
            login.note += f"; ratio to cores / one argon2id ({hash_seconds * 1000:.1f} ms)"
        rss = {name: rss_mib(platform.pids(name)[0]) for name in ("auth", "users")}
    small = {f.name.split(",")[0]: f for f in results if f.name.endswith(f"{mode.sizes[0]:,}")}
    large = {f.name.split(",")[0]: f for f in results if f.name.endswith(f"{mode.sizes[1]:,}")}
    page_ratios = {
        name: round(small[name].rps / large[name].rps, 2) if large[name].rps else None
        for name in small
        if name in large
    }
    extra: dict[str, object] = {
        "RSS MiB after the run, and peak (target < 150 after)": rss,
        f"listing {mode.sizes[1]:,}/{mode.sizes[0]:,} time per page (target <= 1.5)": page_ratios,
        "total seconds": round(time.perf_counter() - began),
    }
    print()
    print(table(results, mode, extra))
    if args.json:
        args.json.write_text(
            json.dumps(
                {"mode": asdict(mode), "results": [asdict(f) for f in results], **extra},
                indent=2,
                default=str,
            )
        )
    for f in results:
        if f.non_2xx or f.errors:
            print(
                f"{f.name}: {f.non_2xx} non-2xx answers, {f.errors} socket errors", file=sys.stderr
            )
    # No thresholds here (docs/benchmarks.md has them); a scenario with no successful answer
    # at all means the harness is broken.
    broken = [f.name for f in results if f.requests <= f.non_2xx + f.errors]
    if broken:
        print(f"no successful request in: {', '.join(broken)}", file=sys.stderr)
    return 1 if broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
