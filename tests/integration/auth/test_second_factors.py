"""TOTP and recovery codes, at the API: enrolling behind the password, confirming with a
first code, logging in with a second step, replays, races, the OAuth form, and what is
stored. Codes are computed by pyotp at chosen times."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pyotp
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.fixtures.apps import PASSWORD, bearer, enable_totp, register_and_login, running
from tests.fixtures.jwt import unverified

FACTORS = "/api/v1/auth/factors"
LOGIN = "/api/v1/auth/login"
SECOND = "/api/v1/auth/login/second-factor"
VERIFY = "/api/v1/auth/verify"


def code(secret: str, offset_steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + 30 * offset_steps)


async def enrolled(client: httpx.AsyncClient, username: str) -> dict[str, Any]:
    """``username`` registered, logged in and with TOTP on: its pair, secret and codes."""
    pair = await register_and_login(client, username)
    secret, recovery_codes = await enable_totp(client, pair)
    return {**pair, "secret": secret, "recovery_codes": recovery_codes}


async def challenge(client: httpx.AsyncClient, username: str) -> str:
    response = await client.post(LOGIN, json={"username": username, "password": PASSWORD})
    assert response.status_code == 403, response.text
    body = response.json()
    assert body["code"] == "second_factor_required"
    assert body["methods"] == ["totp", "recovery_code"]
    assert "access_token" not in response.text
    return str(body["challenge"])


class TestEnrollment:
    async def test_behind_the_password_pending_until_a_first_code(
        self, auth_client: httpx.AsyncClient
    ):
        pair = await register_and_login(auth_client, "tina")
        headers = bearer(pair)
        status = await auth_client.get(FACTORS, headers=headers)
        assert status.json() == {
            "totp_enabled": False,
            "totp_pending": False,
            "recovery_codes_left": 0,
            "passkeys": 0,
        }
        wrong = await auth_client.post(
            f"{FACTORS}/totp", json={"password": "nope"}, headers=headers
        )
        assert (wrong.status_code, wrong.json()["code"]) == (400, "invalid_current_password")

        enrollment = await auth_client.post(
            f"{FACTORS}/totp", json={"password": PASSWORD}, headers=headers
        )
        assert enrollment.status_code == 200, enrollment.text
        body = enrollment.json()
        assert body["otpauth_uri"].startswith("otpauth://totp/Tessera:tina?secret=")
        assert body["qr_svg"].startswith("<svg")
        assert enrollment.headers["cache-control"] == "no-store"
        assert (await auth_client.get(FACTORS, headers=headers)).json()["totp_pending"] is True
        # Pending is not on: a password alone still logs in.
        login = await auth_client.post(LOGIN, json={"username": "tina", "password": PASSWORD})
        assert login.status_code == 200

        bad = await auth_client.post(
            f"{FACTORS}/totp/confirm", json={"code": "000000"}, headers=headers
        )
        assert (bad.status_code, bad.json()["code"]) == (400, "invalid_code")
        confirmed = await auth_client.post(
            f"{FACTORS}/totp/confirm", json={"code": code(body["secret"])}, headers=headers
        )
        assert confirmed.status_code == 200, confirmed.text
        codes = confirmed.json()["recovery_codes"]
        assert len(set(codes)) == 10
        assert (await auth_client.get(FACTORS, headers=headers)).json() == {
            "totp_enabled": True,
            "totp_pending": False,
            "recovery_codes_left": 10,
            "passkeys": 0,
        }
        # Turning it on ends the sessions signed in with less, not the one that did it.
        assert (await auth_client.get(VERIFY, headers=bearer(login.json()))).status_code == 401
        assert (await auth_client.get(VERIFY, headers=headers)).status_code == 200
        again = await auth_client.post(
            f"{FACTORS}/totp", json={"password": PASSWORD}, headers=headers
        )
        assert (again.status_code, again.json()["code"]) == (409, "totp_already_enabled")

    async def test_secrets_and_recovery_codes_are_not_stored_in_clear(
        self, auth_client: httpx.AsyncClient, db_engine: AsyncEngine
    ):
        account = await enrolled(auth_client, "sealed")
        async with db_engine.connect() as conn:
            sealed = (
                await conn.execute(text("SELECT secret_sealed FROM totp_factor"))
            ).scalar_one()
            hashes = (
                (await conn.execute(text("SELECT code_hash FROM recovery_code"))).scalars().all()
            )
        assert account["secret"].encode() not in sealed
        stored = b"".join(hashes)
        assert len(hashes) == 10
        for recovery in account["recovery_codes"]:
            assert recovery.encode() not in stored
            assert recovery.replace("-", "").encode() not in stored


class TestLogin:
    async def test_a_password_alone_gets_a_challenge_and_a_code_gets_the_pair(
        self, auth_client: httpx.AsyncClient
    ):
        # The replay below must fall in the step whose code confirmed the enrollment: not
        # within two seconds of a step's end.
        left_in_step = 30 - time.time() % 30
        if left_in_step < 2:
            await asyncio.sleep(left_in_step + 0.1)
        account = await enrolled(auth_client, "otto")
        first = await challenge(auth_client, "otto")
        # The code that confirmed the enrollment was used: its step is spent.
        replay = await auth_client.post(
            SECOND, json={"challenge": first, "code": code(account["secret"])}
        )
        assert (replay.status_code, replay.json()["code"]) == (401, "invalid_second_factor")
        # The next step's code (a phone clock ahead by one step) is accepted once.
        ahead = code(account["secret"], 1)
        answered = await auth_client.post(SECOND, json={"challenge": first, "code": ahead})
        assert answered.status_code == 200, answered.text
        claims = unverified(answered.json()["access_token"])[1]
        assert claims["amr"] == ["pwd", "otp", "mfa"]
        assert isinstance(claims["auth_time"], int)
        # The challenge logs in once.
        spent = await auth_client.post(SECOND, json={"challenge": first, "code": ahead})
        assert (spent.status_code, spent.json()["code"]) == (401, "invalid_challenge")
        # So does the code, with a new challenge.
        second = await challenge(auth_client, "otto")
        reused = await auth_client.post(SECOND, json={"challenge": second, "code": ahead})
        assert (reused.status_code, reused.json()["code"]) == (401, "invalid_second_factor")
        # A refresh keeps how the login was proved.
        refreshed = await auth_client.post(
            "/api/v1/auth/refresh", json={"refresh_token": answered.json()["refresh_token"]}
        )
        assert unverified(refreshed.json()["access_token"])[1]["amr"] == ["pwd", "otp", "mfa"]

    async def test_a_password_login_says_pwd(self, auth_client: httpx.AsyncClient):
        pair = await register_and_login(auth_client, "plain")
        assert unverified(pair["access_token"])[1]["amr"] == ["pwd"]

    async def test_a_wrong_password_is_answered_as_for_any_account(
        self, auth_client: httpx.AsyncClient
    ):
        await enrolled(auth_client, "hidden")
        await register_and_login(auth_client, "open")
        answers = [
            await auth_client.post(LOGIN, json={"username": name, "password": "wrong-password"})
            for name in ("hidden", "open", "nobody")
        ]
        assert {(r.status_code, r.json()["code"], r.json()["detail"]) for r in answers} == {
            (401, "invalid_credentials", "The username or password is incorrect.")
        }

    async def test_a_recovery_code_logs_in_once(self, auth_client: httpx.AsyncClient):
        account = await enrolled(auth_client, "rhea")
        recovery = account["recovery_codes"][0]
        typed = recovery.upper().replace("-", " ")
        first = await auth_client.post(
            SECOND, json={"challenge": await challenge(auth_client, "rhea"), "recovery_code": typed}
        )
        assert first.status_code == 200, first.text
        again = await auth_client.post(
            SECOND,
            json={"challenge": await challenge(auth_client, "rhea"), "recovery_code": recovery},
        )
        assert (again.status_code, again.json()["code"]) == (401, "invalid_second_factor")
        status = await auth_client.get(FACTORS, headers=bearer(first.json()))
        assert status.json()["recovery_codes_left"] == 9

    async def test_a_challenge_takes_a_few_answers(self, auth_client: httpx.AsyncClient, settings):
        account = await enrolled(auth_client, "guess")
        open_challenge = await challenge(auth_client, "guess")
        for _ in range(settings.second_factor_challenge_attempts):
            wrong = await auth_client.post(
                SECOND, json={"challenge": open_challenge, "code": "000000"}
            )
            assert wrong.json()["code"] == "invalid_second_factor"
        right = await auth_client.post(
            SECOND, json={"challenge": open_challenge, "code": code(account["secret"], 1)}
        )
        assert (right.status_code, right.json()["code"]) == (401, "invalid_challenge")

    @pytest.mark.parametrize(
        "body",
        [
            {"challenge": "x"},
            {"challenge": "x", "code": "123456", "recovery_code": "abcde-fghjk"},
        ],
    )
    async def test_exactly_one_code(self, auth_client: httpx.AsyncClient, body: dict[str, str]):
        response = await auth_client.post(SECOND, json=body)
        assert (response.status_code, response.json()["code"]) == (422, "validation_failed")

    async def test_the_password_grant_answers_mfa_required(self, auth_client: httpx.AsyncClient):
        account = await enrolled(auth_client, "oauth")
        response = await auth_client.post(
            "/api/v1/auth/token",
            data={"grant_type": "password", "username": "oauth", "password": PASSWORD},
        )
        assert response.status_code == 403, response.text
        body = response.json()
        assert body["error"] == "mfa_required"
        assert "access_token" not in body
        answered = await auth_client.post(
            SECOND, json={"challenge": body["mfa_token"], "code": code(account["secret"], 1)}
        )
        assert answered.status_code == 200, answered.text


@pytest.fixture
async def roomy_client(make_settings) -> AsyncIterator[httpx.AsyncClient]:
    """An auth app whose guess counters leave room for ten wrong answers at once: the
    races below are between right answers, not against the limits."""
    from tessera_auth.app import create_app

    roomy = make_settings(
        login_max_failures_per_account_and_client=50, second_factor_challenge_attempts=20
    )
    async with running(create_app(roomy)) as client:
        yield client


class TestRaces:
    async def test_one_recovery_code_sent_ten_times_at_once_logs_in_once(
        self, roomy_client: httpx.AsyncClient
    ):
        auth_client = roomy_client
        account = await enrolled(auth_client, "racer")
        recovery = account["recovery_codes"][0]
        challenges = [await challenge(auth_client, "racer") for _ in range(10)]
        answers = await asyncio.gather(
            *(
                auth_client.post(SECOND, json={"challenge": c, "recovery_code": recovery})
                for c in challenges
            )
        )
        assert Counter(r.status_code for r in answers) == {200: 1, 401: 9}

    async def test_one_totp_code_sent_ten_times_at_once_logs_in_once(
        self, roomy_client: httpx.AsyncClient
    ):
        auth_client = roomy_client
        account = await enrolled(auth_client, "dasher")
        ahead = code(account["secret"], 1)
        challenges = [await challenge(auth_client, "dasher") for _ in range(10)]
        answers = await asyncio.gather(
            *(auth_client.post(SECOND, json={"challenge": c, "code": ahead}) for c in challenges)
        )
        assert Counter(r.status_code for r in answers) == {200: 1, 401: 9}

    async def test_one_challenge_answered_ten_times_at_once_logs_in_once(
        self, roomy_client: httpx.AsyncClient
    ):
        auth_client = roomy_client
        account = await enrolled(auth_client, "twin")
        shared = await challenge(auth_client, "twin")
        codes = [account["recovery_codes"][i] for i in range(5)]
        answers = await asyncio.gather(
            *(
                auth_client.post(SECOND, json={"challenge": shared, "recovery_code": c})
                for c in codes
            )
        )
        assert Counter(r.status_code for r in answers) == {200: 1, 401: 4}


class TestRemoval:
    async def test_needs_the_password_and_a_code_then_a_password_logs_in_again(
        self, auth_client: httpx.AsyncClient, db_engine: AsyncEngine
    ):
        account = await enrolled(auth_client, "ronja")
        headers = bearer(account)
        no_code = await auth_client.post(
            f"{FACTORS}/totp/remove",
            json={"password": PASSWORD, "code": "000000"},
            headers=headers,
        )
        assert (no_code.status_code, no_code.json()["code"]) == (401, "invalid_second_factor")
        removed = await auth_client.post(
            f"{FACTORS}/totp/remove",
            json={"password": PASSWORD, "recovery_code": account["recovery_codes"][3]},
            headers=headers,
        )
        assert removed.status_code == 204, removed.text
        login = await auth_client.post(LOGIN, json={"username": "ronja", "password": PASSWORD})
        assert login.status_code == 200
        async with db_engine.connect() as conn:
            kinds = (
                (
                    await conn.execute(
                        text("SELECT kind FROM mail_outbox WHERE kind = 'second_factor_changed'")
                    )
                )
                .scalars()
                .all()
            )
        assert len(kinds) == 2  # turned on, turned off

    async def test_new_recovery_codes_replace_the_old_ones(self, auth_client: httpx.AsyncClient):
        account = await enrolled(auth_client, "renew")
        replaced = await auth_client.post(
            f"{FACTORS}/recovery-codes",
            json={"password": PASSWORD, "code": code(account["secret"], 1)},
            headers=bearer(account),
        )
        assert replaced.status_code == 200, replaced.text
        fresh = replaced.json()["recovery_codes"]
        assert not set(fresh) & set(account["recovery_codes"])
        old = await auth_client.post(
            SECOND,
            json={
                "challenge": await challenge(auth_client, "renew"),
                "recovery_code": account["recovery_codes"][0],
            },
        )
        assert old.status_code == 401
        new = await auth_client.post(
            SECOND,
            json={"challenge": await challenge(auth_client, "renew"), "recovery_code": fresh[0]},
        )
        assert new.status_code == 200, new.text
