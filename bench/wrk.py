"""Load with Debian's ``wrk``: one Lua script per scenario (method, body, headers, rotating
refresh tokens), and a shared ``done`` hook that prints the figures as one JSON line."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

MARKER = "BENCH_RESULT "

DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%s{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"non_2xx":%d,"errors":%d}\\n',
    "%MARKER%", summary.requests, summary.duration, latency:percentile(50),
    latency:percentile(99), e.status, e.connect + e.read + e.write + e.timeout))
end
""".replace("%MARKER%", MARKER)

# Each thread keeps a queue of live refresh tokens: a request spends one, its response
# brings the next. More tokens than connections, so the queue never runs dry.
ROTATING_REFRESH = """
-- `offset` is a global: setup() sets it in each thread's own Lua state (a local would
-- shadow it, and every thread would spend the same tokens: reuse, and a revoked session).
local queue, threads = {}, 1
local counter = 0
offset = 0
function setup(thread)
  thread:set("offset", counter)
  counter = counter + 1
end
function init(args)
  threads = tonumber(args[1])
  for i, token in ipairs(TOKENS) do
    if (i - 1) % threads == offset then table.insert(queue, token) end
  end
end
request = function()
  local token = table.remove(queue, 1) or TOKENS[1]
  return wrk.format("POST", "/api/v1/auth/refresh", {["Content-Type"] = "application/json"},
    '{"refresh_token":"' .. token .. '"}')
end
response = function(status, headers, body)
  local token = body:match('"refresh_token":"([^"]+)"')
  if token then table.insert(queue, token) end
end
"""


@dataclass(frozen=True)
class Load:
    """What one wrk run sends."""

    path: str
    method: str = "GET"
    body: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    refresh_tokens: tuple[str, ...] = ()

    def script(self) -> str:
        if self.refresh_tokens:
            tokens = ", ".join(json.dumps(t) for t in self.refresh_tokens)
            return f"TOKENS = {{{tokens}}}\n{ROTATING_REFRESH}{DONE}"
        lines = [f"wrk.method = {json.dumps(self.method)}"]
        if self.body is not None:
            lines.append(f"wrk.body = {json.dumps(self.body)}")
        for name, value in self.headers:
            lines.append(f"wrk.headers[{json.dumps(name)}] = {json.dumps(value)}")
        return "\n".join(lines) + "\n" + DONE


@dataclass(frozen=True)
class Result:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def wrk_binary() -> str:
    binary = shutil.which("wrk")
    if binary is None:
        raise RuntimeError("no wrk: apt-get install wrk")
    return binary


def start(
    base_url: str, load: Load, *, seconds: float, connections: int, threads: int = 2
) -> subprocess.Popen[str]:
    """Start one wrk run in the background (``finish`` collects it)."""
    script = Path(tempfile.mkstemp(prefix="tessera-bench-", suffix=".lua")[1])
    script.write_text(load.script())
    threads = min(threads, connections)
    return subprocess.Popen(
        [
            wrk_binary(),
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--latency",
            "--timeout",
            "10s",
            "-s",
            str(script),
            base_url + load.path,
            "--",
            str(threads),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(process: subprocess.Popen[str]) -> Result:
    try:
        output, _ = process.communicate(timeout=600)
    finally:
        arguments = [str(a) for a in process.args]  # type: ignore[union-attr]
        Path(arguments[arguments.index("-s") + 1]).unlink(missing_ok=True)  # start's script
    for line in output.splitlines():
        if line.startswith(MARKER):
            raw = json.loads(line[len(MARKER) :])
            return Result(
                requests=raw["requests"],
                seconds=raw["duration_us"] / 1e6,
                p50_ms=raw["p50_us"] / 1000,
                p99_ms=raw["p99_us"] / 1000,
                non_2xx=raw["non_2xx"],
                errors=raw["errors"],
            )
    raise RuntimeError(f"wrk printed no result:\n{output}")


def run(base_url: str, load: Load, *, seconds: float, connections: int) -> Result:
    return finish(start(base_url, load, seconds=seconds, connections=connections))
