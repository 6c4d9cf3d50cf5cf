"""TOTP through the real gateway and both services: enroll, confirm, a login that needs a
code, the token it yields working in the users service, and one recovery code and one
TOTP code each raced by ten clients at once."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import httpx
import pyotp
import pytest

from tests.e2e.accounts import PASSWORD, log_in, register
from tests.e2e.stack import Stack
from tests.fixtures.apps import bearer
from tests.fixtures.jwt import unverified
from tests.fixtures.webauthn import SoftAuthenticator

pytestmark = pytest.mark.e2e

FACTORS = "/api/v1/auth/factors"
LOGIN = "/api/v1/auth/login"
SECOND = "/api/v1/auth/login/second-factor"


def challenge(client: httpx.Client, username: str) -> str:
    response = client.post(LOGIN, json={"username": username, "password": PASSWORD})
    assert (response.status_code, response.json()["code"]) == (403, "second_factor_required")
    return str(response.json()["challenge"])


def totp_on(client: httpx.Client, username: str) -> tuple[pyotp.TOTP, list[str]]:
    """TOTP enrolled and confirmed through the gateway: the app's generator and the ten
    recovery codes."""
    tokens = log_in(client, username)
    enrollment = client.post(f"{FACTORS}/totp", json={"password": PASSWORD}, headers=bearer(tokens))
    assert enrollment.status_code == 200, enrollment.text
    totp = pyotp.TOTP(enrollment.json()["secret"])
    confirmed = client.post(
        f"{FACTORS}/totp/confirm", json={"code": totp.now()}, headers=bearer(tokens)
    )
    assert confirmed.status_code == 200, confirmed.text
    return totp, list(confirmed.json()["recovery_codes"])


def test_a_totp_login_through_the_gateway_and_a_raced_recovery_code(
    stack: Stack, gateway_client: httpx.Client
):
    username = register(gateway_client, "totp")
    totp, recovery_codes = totp_on(gateway_client, username)

    answered = gateway_client.post(
        SECOND,
        json={"challenge": challenge(gateway_client, username), "code": totp.at(time.time() + 30)},
    )
    assert answered.status_code == 200, answered.text
    pair = answered.json()
    assert unverified(pair["access_token"])[1]["amr"] == ["pwd", "otp", "mfa"]
    me = gateway_client.get("/api/v1/users/me", headers=bearer(pair))
    assert (me.status_code, me.json()["username"]) == (200, username)

    challenges = [challenge(gateway_client, username) for _ in range(10)]

    async def race() -> list[int]:
        async with httpx.AsyncClient(base_url=stack.gateway.url, timeout=30) as client:
            answers = await asyncio.gather(
                *(
                    client.post(SECOND, json={"challenge": c, "recovery_code": recovery_codes[0]})
                    for c in challenges
                )
            )
        return [a.status_code for a in answers]

    statuses = asyncio.run(race())
    print(f"one recovery code, ten clients at once through the gateway: {Counter(statuses)}")
    assert statuses.count(200) == 1, statuses
    # The nine others are refused: 401 while the account's guess counter (5 per client
    # address) has room, 429 once the refusals have filled it.
    assert statuses.count(401) + statuses.count(429) == 9, statuses


def test_one_totp_code_raced_by_ten_clients_through_the_gateway(
    stack: Stack, gateway_client: httpx.Client
):
    username = register(gateway_client, "totprace")
    totp, _ = totp_on(gateway_client, username)
    challenges = [challenge(gateway_client, username) for _ in range(10)]
    code = totp.at(time.time() + 30)  # the next step's: the confirming code is spent

    async def race() -> list[int]:
        async with httpx.AsyncClient(base_url=stack.gateway.url, timeout=30) as client:
            answers = await asyncio.gather(
                *(client.post(SECOND, json={"challenge": c, "code": code}) for c in challenges)
            )
        return [a.status_code for a in answers]

    statuses = asyncio.run(race())
    print(f"one TOTP code, ten clients at once through the gateway: {Counter(statuses)}")
    assert statuses.count(200) == 1, statuses
    assert statuses.count(401) + statuses.count(429) == 9, statuses


def test_a_passkey_signs_in_alone_through_the_gateway(stack: Stack, gateway_client: httpx.Client):
    username = register(gateway_client, "pk")
    tokens = log_in(gateway_client, username)
    device = SoftAuthenticator(origin=stack.gateway.browser_url)
    options = gateway_client.post(
        f"{FACTORS}/passkeys/options", json={"password": PASSWORD}, headers=bearer(tokens)
    ).json()
    created = gateway_client.post(
        f"{FACTORS}/passkeys",
        json={"ceremony": options["ceremony"], "credential": device.create(options["public_key"])},
        headers=bearer(tokens),
    )
    assert created.status_code == 201, created.text

    request = gateway_client.post("/api/v1/auth/login/passkey/options", json={}).json()
    signed_in = gateway_client.post(
        "/api/v1/auth/login/passkey",
        json={"ceremony": request["ceremony"], "credential": device.get(request["public_key"])},
    )
    assert signed_in.status_code == 200, signed_in.text
    pair = signed_in.json()
    assert unverified(pair["access_token"])[1]["amr"] == ["hwk", "user", "mfa"]
    me = gateway_client.get("/api/v1/users/me", headers=bearer(pair))
    assert (me.status_code, me.json()["username"]) == (200, username)
    # A password login of the account now asks for the passkey.
    assert challenge(gateway_client, username)
