"""The benchmark harness runs end to end (``python -m bench --quick``): every scenario is
loaded and answered, and the table and the JSON are written. No thresholds here: speed is
measured by ``make bench`` and judged in docs/benchmarks.md, not by tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.stack import require_binary

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = [
    "baseline /healthz",
    "/healthz",
    "/verify",
    "/me",
    "/verify (PAT)",
    "/me (PAT)",
    "refresh",
    "listing first page, 10,000",
    "listing deep page, 10,000",
    "listing first page, 20,000",
    "listing deep page, 20,000",
    "login",
]


def test_quick_mode_loads_every_scenario_and_writes_its_results(tmp_path: Path):
    require_binary("wrk")
    results = tmp_path / "bench.json"
    run = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--json", str(results)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "req/s" in run.stdout, run.stdout[-3000:]
    assert "RSS MiB" in run.stdout, run.stdout[-3000:]
    figures = json.loads(results.read_text())["results"]
    assert [f["name"] for f in figures] == SCENARIOS
    for f in figures:
        assert f["requests"] > f["non_2xx"] + f["errors"], f
        assert f["rps"] > 0, f
