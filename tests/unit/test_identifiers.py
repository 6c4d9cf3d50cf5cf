"""Identifier canonicalisation (``identifier_key``) and what usernames and emails refuse."""

from __future__ import annotations

import pytest

from tessera_core.accounts.users import check_email, check_username, identifier_key


class TestIdentifierKey:
    def test_trims_and_case_folds(self):
        assert identifier_key("  Alice ") == "alice"

    def test_case_folds_beyond_lowercasing(self):
        # casefold(), not lower(): "ß" is "ss", and a final sigma is a sigma.
        assert identifier_key("Straße") == "strasse"
        assert identifier_key("ΣΊΣΥΦΟΣ") == identifier_key("σίσυφος")

    def test_normalises_compatibility_characters(self):
        assert identifier_key("\uff41\uff4c\uff49\uff43\uff45") == "alice"  # full-width
        assert identifier_key("\ufb01le") == "file"  # the "fi" ligature

    def test_an_email_and_a_username_spelling_it_share_one_key(self):
        assert identifier_key("ALICE@Example.COM") == identifier_key("alice@example.com")

    def test_writes_the_domain_in_idna_a_labels(self):
        assert identifier_key("Bob@B\u00fccher.DE") == "bob@xn--bcher-kva.de"
        assert identifier_key("bob@xn--bcher-kva.de") == "bob@xn--bcher-kva.de"
        assert identifier_key("a@\u4f8b\u3048.\u30c6\u30b9\u30c8") == "a@xn--r8jz45g.xn--zckzah"

    def test_full_width_email_is_the_ascii_one(self):
        full_width = "\uff41\uff4c\uff49\uff43\uff45@\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45.\uff43\uff4f\uff4d"
        assert identifier_key(full_width) == "alice@example.com"

    def test_only_the_part_after_the_last_at_is_a_domain(self):
        assert identifier_key("A@B@B\u00fccher.de") == "a@b@xn--bcher-kva.de"

    @pytest.mark.parametrize("typed", ["bob@-bad-.com", "user@ex ample.com", "x@", "@"])
    def test_what_is_not_a_domain_is_kept_as_typed(self, typed: str):
        # A login string can be anything: it is never refused here, only compared.
        assert identifier_key(typed) == typed


class TestCheckUsername:
    def test_returns_the_nfkc_form(self):
        assert check_username("\uff21lice") == "Alice"

    @pytest.mark.parametrize("username", ["bob", "a.b@c+d-e_f", "x" * 150])
    def test_accepts_letters_digits_and_five_marks(self, username: str):
        assert check_username(username) == username

    @pytest.mark.parametrize(
        "username", ["ab", "x" * 151, "has space", "semi;colon", "j\u00f6rg", "\u0430lice"]
    )
    def test_refuses(self, username: str):
        # Non-ASCII letters too ("jörg", a Cyrillic a): look-alikes cannot register.
        with pytest.raises(ValueError, match="3-150 characters"):
            check_username(username)


class TestCheckEmail:
    def test_returns_the_address_as_given_but_trimmed(self):
        assert check_email("  Alice@Example.com ") == "Alice@Example.com"

    @pytest.mark.parametrize("email", ["alice", "alice@", "@example.com", "a@b@example.com"])
    def test_refuses_what_is_not_an_address(self, email: str):
        with pytest.raises(ValueError, match="@-sign"):
            check_email(email)
