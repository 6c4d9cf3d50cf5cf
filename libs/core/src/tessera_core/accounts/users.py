"""Account rules shared by both services and the CLI: username and email shape, the
canonical key of an identifier, and the uniqueness errors. The ``user`` rows themselves are
``tessera_core.accounts.repository.UserRepository``'s."""

from __future__ import annotations

import contextlib
import re
import unicodedata

import idna
from email_validator import EmailNotValidError, validate_email

from tessera_core.errors import Conflict

__all__ = [
    "USERNAME_PATTERN",
    "EmailTaken",
    "UsernameTaken",
    "check_email",
    "check_username",
    "identifier_key",
]

USERNAME_PATTERN = re.compile(r"^[\w.@+-]{3,150}$", re.ASCII)


def check_username(username: str) -> str:
    """Return the username in NFKC form if that is 3-150 letters, digits and ``@.+-_``;
    else ValueError. NFKC first, so a full-width ``\uff21lice`` is ``Alice``, not a
    look-alike of it."""
    username = unicodedata.normalize("NFKC", username)
    if not USERNAME_PATTERN.fullmatch(username):
        raise ValueError("must be 3-150 characters of letters, digits and @.+-_")
    return username


def check_email(email: str) -> str:
    """Return the email as given (trimmed) if valid; else ValueError."""
    email = email.strip()
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from exc
    return email


def identifier_key(identifier: str) -> str:
    """The canonical form under which a username, an email or a login string names an
    account: NFKC, case-folded, and after the last ``@`` the domain in IDNA (A-label) form.

    Two strings with one key are one identifier: ``alice@example.com``, the same in
    full-width letters, and a *username* ``ALICE@example.com`` all collide.

    Example:
        >>> identifier_key("\uff21lice@B\u00fccher.DE")
        'alice@xn--bcher-kva.de'
    """
    key = unicodedata.normalize("NFKC", identifier.strip()).casefold()
    local, at, domain = key.rpartition("@")
    if at and domain:
        # Not a domain (a login string can be anything)? Then it is compared as it is.
        with contextlib.suppress(idna.IDNAError):
            domain = idna.encode(domain, uts46=True).decode("ascii")
        key = f"{local}@{domain}"
    return key


class UsernameTaken(Conflict):
    code = "username_taken"
    title = "Username already taken"


class EmailTaken(Conflict):
    code = "email_taken"
    title = "Email already registered"
