from __future__ import annotations

import asyncio

import pytest

from tessera_core.accounts.passwords import PasswordHasher, common_passwords, password_problems


class TestPasswordProblems:
    def test_accepts_a_good_passphrase(self):
        assert (
            password_problems("tr0mbone-staple-42", username="alice", email="alice@example.com")
            == []
        )

    @pytest.mark.parametrize(
        ("password", "fragment"),
        [
            ("short", "too short"),
            ("qwerty", "too short"),
            ("iloveyou", "too common"),
            ("PASSWORD1", "too common"),
            ("9876543210", "entirely numeric"),
        ],
    )
    def test_rejects(self, password: str, fragment: str):
        assert any(fragment in p for p in password_problems(password))

    def test_similar_to_username(self):
        assert password_problems("Maximilian1", username="maximilian") == [
            "This password is too similar to the username."
        ]

    def test_similar_to_email_local_part(self):
        problems = password_problems("johnsmith!", email="john.smith@example.com")
        assert "This password is too similar to the email." in problems

    def test_unrelated_short_attributes_ignored(self):
        assert password_problems("tr0mbone-staple-42", username="al") == []

    def test_no_composition_rules_and_long_passwords(self):
        assert password_problems("a" * 3 + " sentence with spaces only lowercase" + "z" * 100) == []

    def test_shipped_list_is_loaded(self):
        assert len(common_passwords()) > 19000


class TestPasswordHasher:
    def test_hash_verify_and_dummy(self):
        hasher = PasswordHasher(threads=1)
        try:
            digest = asyncio.run(hasher.hash("correct horse"))
            assert digest.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
            assert asyncio.run(hasher.verify(digest, "correct horse")) is True
            assert asyncio.run(hasher.verify(digest, "wrong horse")) is False
            assert asyncio.run(hasher.verify(None, "anything")) is False
            assert asyncio.run(hasher.verify("not-a-hash", "anything")) is False
            assert hasher.needs_rehash(digest) is False
        finally:
            hasher.close()

    def test_hashes_at_the_cost_it_is_given(self):
        hasher = PasswordHasher(threads=1, memory_kib=8, time_cost=1)
        try:
            digest = asyncio.run(hasher.hash("correct horse"))
            assert digest.startswith("$argon2id$v=19$m=8,t=1,p=1$")
            assert asyncio.run(hasher.verify(digest, "correct horse")) is True
        finally:
            hasher.close()

    def test_a_hash_at_another_cost_needs_rehashing(self):
        cheap, owasp = PasswordHasher(threads=1, memory_kib=8, time_cost=1), PasswordHasher()
        try:
            digest = asyncio.run(cheap.hash("correct horse"))
            assert owasp.needs_rehash(digest) is True
            assert asyncio.run(owasp.verify(digest, "correct horse")) is True
        finally:
            cheap.close()
            owasp.close()
