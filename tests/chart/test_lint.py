"""``helm lint --strict`` on the chart's defaults and on every ci/*-values.yaml."""

from __future__ import annotations

import pytest

from tests.chart.conftest import CHART, VALUE_SETS, run_helm

pytestmark = pytest.mark.chart


class TestLint:
    def test_value_sets_cover_the_documented_scenarios(self) -> None:
        expected = {
            "default-values.yaml",
            "ingress-values.yaml",
            "in-chart-databases-values.yaml",
            "existing-secret-values.yaml",
            "monitoring-netpol-values.yaml",
            "autoscaling-values.yaml",
        }
        assert expected <= set(VALUE_SETS)

    def test_defaults_lint_clean(self, helm: str) -> None:
        # Lint mode reports missing required values as INFO; --strict fails on anything worse.
        result = run_helm(helm, "lint", "--strict", str(CHART))
        assert result.returncode == 0, result.stdout + result.stderr
        assert "0 chart(s) failed" in result.stdout

    @pytest.mark.parametrize("value_set", VALUE_SETS)
    def test_value_set_lints_clean(self, helm: str, value_set: str) -> None:
        result = run_helm(
            helm, "lint", "--strict", str(CHART), "--values", str(CHART / "ci" / value_set)
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert "[WARNING]" not in result.stdout
        assert "[ERROR]" not in result.stdout
