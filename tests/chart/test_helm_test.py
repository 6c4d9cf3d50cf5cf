"""The rendered chart's `helm test` Pod: it checks readiness and the JWKS through the
Services."""

from __future__ import annotations

import pytest

from tests.chart.conftest import VALUE_SETS, named, of_kind, render

pytestmark = pytest.mark.chart


class TestHelmTest:
    @pytest.mark.parametrize("value_set", VALUE_SETS)
    def test_checks_readiness_and_jwks_through_the_services(
        self, helm: str, value_set: str
    ) -> None:
        manifests = render(helm, value_set)
        pods = [
            p
            for p in of_kind(manifests, "Pod")
            if p["metadata"]["annotations"]["helm.sh/hook"] == "test"
        ]
        assert len(pods) == 1
        script = " ".join(pods[0]["spec"]["containers"][0]["command"])
        auth = named(manifests, "Service", "-auth")["metadata"]["name"]
        users = named(manifests, "Service", "-users")["metadata"]["name"]
        assert f"http://{auth}:8001/readyz" in script
        assert f"http://{users}:8002/readyz" in script
        assert f"http://{auth}:8001/.well-known/jwks.json" in script
