"""The pure parts of second factors: TOTP codes at chosen times (pyotp computes them), the
sealing of secrets, and recovery codes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from cryptography.exceptions import InvalidTag

from tessera_auth.factors.codes import (
    FactorKey,
    matching_step,
    new_recovery_codes,
    new_totp_secret,
    provisioning_uri,
    qr_svg,
)
from tessera_core.settings import Settings

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
T = datetime(2026, 12, 7, 12, 0, 15, tzinfo=UTC)


def code_at(when: datetime) -> str:
    return pyotp.TOTP(SECRET).at(when)


class TestMatchingStep:
    def test_the_code_of_now_matches_its_step(self):
        assert matching_step(SECRET, code_at(T), T) == pyotp.TOTP(SECRET).timecode(T)

    @pytest.mark.parametrize("seconds", [-30, 30])
    def test_one_step_either_way_is_accepted(self, seconds: int):
        submitted_at = T + timedelta(seconds=seconds)
        assert matching_step(SECRET, code_at(T), submitted_at) == pyotp.TOTP(SECRET).timecode(T)

    @pytest.mark.parametrize("seconds", [-60, 60, 3600])
    def test_two_steps_away_is_refused(self, seconds: int):
        assert matching_step(SECRET, code_at(T), T + timedelta(seconds=seconds)) is None

    @pytest.mark.parametrize("code", ["", "12345", "1234567", "abcdef", "12 456", "١٢٣٤٥٦"])
    def test_anything_but_six_digits_is_refused(self, code: str):
        assert matching_step(SECRET, code, T) is None


class TestEnrollment:
    def test_a_secret_is_160_random_bits_in_base32(self):
        secrets = {new_totp_secret() for _ in range(20)}
        assert len(secrets) == 20
        assert all(len(s) == 32 and s.isalnum() and s.isupper() for s in secrets)

    def test_the_uri_names_account_issuer_and_secret(self):
        uri = provisioning_uri(SECRET, account="alice", issuer="Tessera")
        assert uri == f"otpauth://totp/Tessera:alice?secret={SECRET}&issuer=Tessera"

    def test_the_qr_code_is_an_svg(self):
        svg = qr_svg(provisioning_uri(SECRET, account="alice", issuer="Tessera"))
        assert svg.startswith("<svg")
        assert svg.rstrip().endswith("</svg>")
        assert SECRET not in svg  # the secret is in the modules' pattern, not in clear


class TestFactorKey:
    def test_a_sealed_secret_opens_for_its_user_only(self):
        key, alice, bob = FactorKey(b"k" * 32), uuid.uuid4(), uuid.uuid4()
        sealed = key.seal(alice, SECRET)
        assert SECRET.encode() not in sealed
        assert key.open(alice, sealed) == SECRET
        with pytest.raises(InvalidTag):
            key.open(bob, sealed)
        with pytest.raises(InvalidTag):
            FactorKey(b"x" * 32).open(alice, sealed)

    def test_sealing_twice_gives_two_ciphertexts(self):
        key, alice = FactorKey(b"k" * 32), uuid.uuid4()
        assert key.seal(alice, SECRET) != key.seal(alice, SECRET)

    def test_a_recovery_code_hashes_the_same_however_it_is_typed(self):
        key = FactorKey(b"k" * 32)
        assert key.recovery_hash("abcde-fghjk") == key.recovery_hash(" ABCDE FGHJK ")
        assert key.recovery_hash("abcde-fghjk") != key.recovery_hash("abcde-fghjm")
        assert key.recovery_hash("abcde-fghjk") != FactorKey(b"x" * 32).recovery_hash("abcde-fghjk")


class TestRecoveryCodes:
    def test_ten_distinct_codes_of_an_unambiguous_alphabet(self):
        codes = new_recovery_codes()
        assert len(codes) == len(set(codes)) == 10
        for code in codes:
            assert len(code) == 11
            assert code[5] == "-"
            assert not set(code) & set("01ilo")


class TestFactorSecret:
    def test_dev_and_test_have_a_built_in_key_production_none(self):
        assert Settings(env="test").factor_secret is not None
        assert Settings(env="production").factor_secret is None
        key = "k" * 32
        assert Settings(env="production", factor_key=key).factor_secret == key.encode()
