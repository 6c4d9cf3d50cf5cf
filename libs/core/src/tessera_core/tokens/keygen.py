"""Signing-key generation: PEM files in a directory, one per ``kid``."""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

__all__ = [
    "generate_private_key",
    "new_kid",
    "write_private_key",
]


def new_kid(algorithm: str) -> str:
    """A key id that sorts by creation time, so the newest key is the greatest.

    Example:
        >>> new_kid("RS256")[:2]
        '20'
    """
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{algorithm.lower()}-{secrets.token_hex(3)}"


def generate_private_key(algorithm: str) -> PrivateKeyTypes:
    if algorithm == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"unsupported signing algorithm {algorithm!r}")


def write_private_key(directory: Path, algorithm: str, *, kid: str | None = None) -> Path:
    """Write a new private key as ``<kid>.pem`` (mode 0600) and return its path.

    Example:
        >>> write_private_key(Path("/tmp/keys"), "ES256").suffix  # doctest: +SKIP
        '.pem'
    """
    directory.mkdir(parents=True, exist_ok=True)
    kid = kid or new_kid(algorithm)
    if not kid.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise ValueError("a kid may hold letters, digits, '-', '_' and '.' only")
    pem = generate_private_key(algorithm).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path = directory / f"{kid}.pem"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return path
