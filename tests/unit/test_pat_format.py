"""The personal access token's format: prefix, base62 body, CRC32 checksum, the scanners'
pattern and the hash that is all the database keeps."""

from __future__ import annotations

import hashlib
import re
import zlib

import pytest

from tessera_core.tokens.pat import (
    PAT_LENGTH,
    PAT_PATTERN,
    PAT_PREFIX,
    hash_personal_token,
    is_personal_token,
    new_personal_token,
    new_prefixed_token,
    personal_token_checksum,
    well_formed_personal_token,
    well_formed_prefixed_token,
)

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def from_base62(text: str) -> int:
    value = 0
    for char in text:
        value = value * 62 + BASE62.index(char)
    return value


class TestNewPersonalToken:
    def test_prefix_length_and_alphabet(self):
        token = new_personal_token()
        assert token.startswith("tsr_pat_")
        assert len(token) == PAT_LENGTH == 44
        assert re.fullmatch(r"tsr_pat_[0-9A-Za-z]{36}", token)

    def test_every_token_is_new(self):
        assert len({new_personal_token() for _ in range(1000)}) == 1000

    def test_its_last_six_characters_are_the_crc32_of_the_random_part(self):
        token = new_personal_token()
        random_part, checksum = token[8:38], token[38:]
        assert from_base62(checksum) == zlib.crc32(random_part.encode())


class TestChecksum:
    def test_is_six_base62_characters_left_padded(self):
        # CRC32 of "" is 0: all padding.
        assert personal_token_checksum("") == "000000"
        assert personal_token_checksum("0" * 30) == "2C8GjS"

    def test_fits_the_largest_crc32(self):
        assert 62**6 > 2**32 - 1


class TestWellFormed:
    def test_a_new_token_is(self):
        assert well_formed_personal_token(new_personal_token())

    @pytest.mark.parametrize(
        "mangle",
        [
            lambda t: t[:-1] + ("a" if t[-1] != "a" else "b"),  # checksum off by one char
            lambda t: t[:10] + ("a" if t[10] != "a" else "b") + t[11:],  # random part changed
            lambda t: t[:-1],  # too short
            lambda t: t + "0",  # too long
            lambda t: "tsr_xyz_" + t[8:],  # another prefix
            lambda t: t[:20] + "-" + t[21:],  # outside the alphabet
            lambda t: t.replace("tsr_pat_", "TSR_PAT_"),
        ],
    )
    def test_a_mangled_token_is_not(self, mangle):
        assert not well_formed_personal_token(mangle(new_personal_token()))

    def test_a_jwt_is_not_a_personal_token(self):
        assert not is_personal_token("eyJhbGciOiJSUzI1NiJ9.e30.sig")
        assert is_personal_token(PAT_PREFIX + "x")


class TestPrefixedToken:
    """The same format under another prefix (service-account secrets, ``tsr_sas_``)."""

    def test_same_shape_under_its_prefix(self):
        token = new_prefixed_token("tsr_sas_")
        assert re.fullmatch(r"tsr_sas_[0-9A-Za-z]{36}", token)
        assert personal_token_checksum(token[8:38]) == token[38:]
        assert well_formed_prefixed_token(token, "tsr_sas_")

    def test_another_prefix_is_not_well_formed(self):
        secret = new_prefixed_token("tsr_sas_")
        assert not well_formed_personal_token(secret)
        assert not well_formed_prefixed_token(new_personal_token(), "tsr_sas_")
        flipped = secret[:-1] + ("1" if secret[-1] == "0" else "0")
        assert not well_formed_prefixed_token(flipped, "tsr_sas_")


class TestScannerPattern:
    def test_finds_a_token_in_text_and_nothing_longer(self):
        token = new_personal_token()
        found = re.findall(PAT_PATTERN, f"export TOKEN={token}\nother tsr_pat_{'a' * 40}")
        assert found == [token]


class TestHash:
    def test_is_the_sha256_of_the_whole_token(self):
        token = new_personal_token()
        assert hash_personal_token(token) == hashlib.sha256(token.encode()).digest()
        assert len(hash_personal_token(token)) == 32
