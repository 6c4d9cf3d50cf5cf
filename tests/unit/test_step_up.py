"""Step-up's rule (RFC 9470): how recent and how strong a login a sensitive change needs."""

from __future__ import annotations

import time

import pytest

from tessera_core.accounts.step_up import InsufficientUserAuthentication, StepUp
from tessera_core.tokens.claims import AccessClaims

STEP_UP = StepUp(max_age=600, admins_need_second_factor=False)


def claims(*, age: float | None = 10, amr: tuple[str, ...] = ("pwd",), admin: bool = False):
    now = int(time.time())
    return AccessClaims(
        sub="u",
        sid="s",
        jti="j",
        iss="i",
        exp=now + 60,
        iat=now,
        client_id="c",
        preferred_username="alice",
        roles=["admin"] if admin else [],
        auth_time=None if age is None else int(now - age),
        amr=amr,
    )


class TestStepUp:
    def test_a_recent_password_login_of_an_account_without_a_factor_is_enough(self):
        STEP_UP.require(claims(age=599), has_second_factor=False)

    @pytest.mark.parametrize("age", [601, 86_400, None])
    def test_an_old_login_or_none_is_not(self, age: float | None):
        with pytest.raises(InsufficientUserAuthentication) as refused:
            STEP_UP.require(claims(age=age), has_second_factor=False)
        challenge = refused.value.headers["WWW-Authenticate"]
        assert 'error="insufficient_user_authentication"' in challenge
        assert 'max_age="600"' in challenge
        assert "acr_values" not in challenge
        assert refused.value.status == 401

    def test_an_account_with_a_factor_needs_a_login_that_used_it(self):
        with pytest.raises(InsufficientUserAuthentication) as refused:
            STEP_UP.require(claims(age=5), has_second_factor=True)
        assert 'acr_values="mfa"' in refused.value.headers["WWW-Authenticate"]
        STEP_UP.require(claims(age=5, amr=("pwd", "otp", "mfa")), has_second_factor=True)

    def test_a_second_factor_does_not_make_an_old_login_recent(self):
        with pytest.raises(InsufficientUserAuthentication):
            STEP_UP.require(claims(age=601, amr=("pwd", "otp", "mfa")), has_second_factor=True)

    def test_every_admin_needs_a_second_factor_when_the_setting_says_so(self):
        strict = StepUp(max_age=600, admins_need_second_factor=True)
        with pytest.raises(InsufficientUserAuthentication):
            strict.require(claims(admin=True), has_second_factor=False)
        strict.require(claims(admin=False), has_second_factor=False)
        strict.require(claims(admin=True, amr=("pwd", "otp", "mfa")), has_second_factor=False)
