"""The format of personal access tokens, after GitHub's: a fixed prefix that says what the
string is, 30 random base62 characters, and a 6-character base62 CRC32 of them, so a
secret scanner can find a leaked token with one regular expression and tell it from noise
without asking anyone, and the verifier can refuse a mistyped or invented one before any
lookup.

``tsr_pat_`` + ``[0-9A-Za-z]{30}`` (178 bits) + ``[0-9A-Za-z]{6}`` (CRC32 of the random part,
left-padded with ``0``). The database keeps only its SHA-256: the random part has far too
much entropy to guess, so a slow hash would buy nothing.

The format is not the personal tokens' alone: ``new_prefixed_token`` and
``well_formed_prefixed_token`` take the prefix, so service-account secrets (``tsr_sas_``,
docs/service-accounts.md) are the same shape under their own prefix.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import zlib

__all__ = [
    "PAT_LENGTH",
    "PAT_PATTERN",
    "PAT_PREFIX",
    "hash_personal_token",
    "is_personal_token",
    "new_personal_token",
    "new_prefixed_token",
    "personal_token_checksum",
    "well_formed_personal_token",
    "well_formed_prefixed_token",
]

PAT_PREFIX = "tsr_pat_"
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
RANDOM_CHARS = 30  # 62**30 > 2**178
CHECKSUM_CHARS = 6  # 62**6 > 2**32: any CRC32 fits
PAT_LENGTH = len(PAT_PREFIX) + RANDOM_CHARS + CHECKSUM_CHARS
# What a secret scanner looks for (docs/personal-access-tokens.md).
PAT_PATTERN = rf"\b{PAT_PREFIX}[0-9A-Za-z]{{{RANDOM_CHARS + CHECKSUM_CHARS}}}\b"
_BODY = re.compile(rf"[0-9A-Za-z]{{{RANDOM_CHARS + CHECKSUM_CHARS}}}")


def personal_token_checksum(random_part: str) -> str:
    """The base62 CRC32 of a token's random part, six characters.

    Example:
        >>> personal_token_checksum("0" * 30)
        '2C8GjS'
    """
    value = zlib.crc32(random_part.encode())
    digits = []
    for _ in range(CHECKSUM_CHARS):
        value, digit = divmod(value, 62)
        digits.append(BASE62[digit])
    return "".join(reversed(digits))


def new_prefixed_token(prefix: str) -> str:
    """A fresh token of this format under ``prefix`` (shown once; keep its SHA-256).

    Example:
        >>> new_prefixed_token("tsr_sas_").startswith("tsr_sas_")
        True
    """
    random_part = "".join(secrets.choice(BASE62) for _ in range(RANDOM_CHARS))
    return prefix + random_part + personal_token_checksum(random_part)


def new_personal_token() -> str:
    """A fresh token (shown to its owner once; keep ``hash_personal_token`` of it)."""
    return new_prefixed_token(PAT_PREFIX)


def is_personal_token(token: str) -> bool:
    """Whether ``token`` claims to be a personal access token (by its prefix alone)."""
    return token.startswith(PAT_PREFIX)


def well_formed_personal_token(token: str) -> bool:
    """Prefix, length, alphabet and checksum all right: worth looking up.

    Example:
        >>> well_formed_personal_token(new_personal_token())
        True
        >>> well_formed_personal_token("tsr_pat_" + "0" * 36)
        False
    """
    return well_formed_prefixed_token(token, PAT_PREFIX)


def well_formed_prefixed_token(token: str, prefix: str) -> bool:
    """``well_formed_personal_token`` under another prefix.

    Example:
        >>> well_formed_prefixed_token(new_prefixed_token("tsr_sas_"), "tsr_sas_")
        True
    """
    if len(token) != len(prefix) + RANDOM_CHARS + CHECKSUM_CHARS or not token.startswith(prefix):
        return False
    body = token[len(prefix) :]
    if _BODY.fullmatch(body) is None:
        return False
    return secrets.compare_digest(personal_token_checksum(body[:RANDOM_CHARS]), body[RANDOM_CHARS:])


def hash_personal_token(token: str) -> bytes:
    """What the database keeps of a token: its SHA-256."""
    return hashlib.sha256(token.encode()).digest()
