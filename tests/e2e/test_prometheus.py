"""A real Prometheus with deploy/prometheus/prometheus.yml scrapes both services."""

from __future__ import annotations

import time

import pytest

from tests.e2e.stack import Stack

pytestmark = pytest.mark.e2e


def eventually(check, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.5)


class TestPrometheus:
    def test_both_jobs_are_up(self, stack: Stack):
        prometheus = stack.prometheus
        assert prometheus is not None

        def up() -> dict[str, str]:
            return {r["metric"]["job"]: r["value"][1] for r in prometheus.query("up")}

        assert eventually(lambda: up() == {"auth": "1", "users": "1"}), up()

    def test_answers_a_query_on_http_requests_total(self, stack: Stack):
        prometheus = stack.prometheus
        assert prometheus is not None
        result = eventually(
            lambda: prometheus.query('sum by (job, service) (http_requests_total{job="auth"})')
        )
        assert result, "no http_requests_total samples scraped"
        assert result[0]["metric"] == {"job": "auth", "service": "auth"}
        assert float(result[0]["value"][1]) > 0
