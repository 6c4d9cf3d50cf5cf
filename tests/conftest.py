"""Root fixtures: real servers for the whole run, a clean database and Redis per test."""

from __future__ import annotations

import pytest

pytest_plugins = [
    "tests.fixtures.database",
    "tests.fixtures.apps",
    "tests.fixtures.users",
    "tests.fixtures.smtp",
]

# Under pytest-xdist (`make test`, --dist loadgroup) the session-scoped e2e stack (nginx,
# both services, Prometheus, their own PostgreSQL and Redis) and the chart's
# kube-apiservers are each built by one worker: their tests go to that worker as a group,
# and unit and integration tests spread over the others as they finish.
GROUPED_LAYERS = ("e2e", "chart")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        layer = item.path.parent.name
        if layer in GROUPED_LAYERS:
            item.add_marker(pytest.mark.xdist_group(layer))
