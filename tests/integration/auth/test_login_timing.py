"""Login takes about the same time whether the account is unknown, known with a wrong
password, known with a second factor and a wrong password, or inactive: the time must not
tell an attacker which accounts exist, nor which have a second factor."""

from __future__ import annotations

import json
import statistics
import time

import pytest
from sqlalchemy import text

from tests.fixtures.apps import PASSWORD, enable_totp, register_and_login, running

LOGIN = "/api/v1/auth/login"
ROUNDS = 30
WARM_UP = 4
# The argon2 check dominates a login (tens of milliseconds); the lookup is well under one.
# Medians of interleaved rounds stay within a few percent on a quiet machine; 30% leaves
# room for a noisy, shared two-core one, and still fails by far if a path skipped the hash
# (that path would be ten times faster).
TOLERANCE = 0.30


@pytest.mark.real_argon2
class TestLoginTiming:
    async def test_unknown_wrong_second_factor_and_inactive_take_the_same_time(
        self, make_settings, db_engine
    ):
        from tessera_auth.app import create_app

        generous = 100 * (ROUNDS + WARM_UP)  # this test measures time, not the limits
        app = create_app(
            make_settings(
                login_max_failures_per_account_and_client=generous,
                login_max_failures_per_account=generous,
                login_max_failures_per_client=generous,
            )
        )
        async with running(app) as client:
            for name in ("known", "dormant"):
                body = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
                assert (await client.post("/api/v1/auth/register", json=body)).status_code == 201
            async with db_engine.begin() as conn:
                await conn.execute(
                    text("UPDATE \"user\" SET is_active = false WHERE username = 'dormant'")
                )
            await enable_totp(client, await register_and_login(client, "guarded"))

            kinds = {
                "unknown user": lambda i: {"username": f"ghost{i}", "password": "wrong-guess"},
                "wrong password": lambda i: {"username": "known", "password": f"wrong{i}"},
                "wrong, TOTP on": lambda i: {"username": "guarded", "password": f"wrong{i}"},
                "inactive user": lambda i: {"username": "dormant", "password": PASSWORD},
            }
            timings: dict[str, list[float]] = {kind: [] for kind in kinds}
            bodies: dict[str, object] = {}
            for i in range(WARM_UP + ROUNDS):
                # Rotate the order, so no kind always runs right after another.
                order = list(kinds)[i % len(kinds) :] + list(kinds)[: i % len(kinds)]
                for kind in order:
                    started = time.perf_counter()
                    response = await client.post(LOGIN, json=kinds[kind](i))
                    elapsed = time.perf_counter() - started
                    assert response.status_code == 401, response.text
                    bodies[kind] = response.json()
                    if i >= WARM_UP:
                        timings[kind].append(elapsed)

        medians = {kind: statistics.median(values) for kind, values in timings.items()}
        baseline = medians["unknown user"]
        print(f"\nlogin medians over {ROUNDS} rounds each:")
        for kind, median in medians.items():
            print(f"  {kind:15} {median * 1000:7.2f} ms  ({median / baseline - 1:+.1%})")
        for median in medians.values():
            assert abs(median / baseline - 1) <= TOLERANCE, medians
        assert all(len(values) == ROUNDS for values in timings.values())
        # And the same answer every time: nothing but the clock could tell them apart.
        assert len({json.dumps(body, sort_keys=True) for body in bodies.values()}) == 1, bodies
