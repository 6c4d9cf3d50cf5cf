"""Root fixtures: real servers for the whole run, a clean database and Redis per test."""

from __future__ import annotations

pytest_plugins = [
    "tests.fixtures.database",
    "tests.fixtures.apps",
    "tests.fixtures.users",
    "tests.fixtures.smtp",
]
