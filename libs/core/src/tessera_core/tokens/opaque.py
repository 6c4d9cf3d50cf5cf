"""Opaque secrets handed to a client and kept only as a hash: refresh tokens, and the
single-use tokens of mailed links (``tessera_core.accounts.account_tokens``)."""

from __future__ import annotations

import hashlib
import secrets

__all__ = ["OPAQUE_TOKEN_BYTES", "hash_opaque_token", "new_opaque_token"]

OPAQUE_TOKEN_BYTES = 32  # 256 bits of entropy


def new_opaque_token() -> tuple[str, bytes]:
    """A fresh token and the SHA-256 that is all the database keeps."""
    token = secrets.token_urlsafe(OPAQUE_TOKEN_BYTES)
    return token, hash_opaque_token(token)


def hash_opaque_token(token: str) -> bytes:
    # A fast hash is enough: the token has 256 bits of entropy, nothing to brute-force.
    return hashlib.sha256(token.encode()).digest()
