"""The pure parts of second factors: TOTP codes at a time step (pyotp), the ``otpauth://``
URI and its QR code (segno), sealed secrets, and recovery codes with their keyed hashes."""

from __future__ import annotations

import hashlib
import hmac
import io
import os
import secrets
import uuid
from datetime import datetime

import pyotp
import segno
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "RECOVERY_CODE_COUNT",
    "SKEW_STEPS",
    "FactorKey",
    "matching_step",
    "new_recovery_codes",
    "new_totp_secret",
    "provisioning_uri",
    "qr_svg",
]

# RFC 6238 §5.2: one step either way for a phone's clock and the time to type the code.
SKEW_STEPS = 1
RECOVERY_CODE_COUNT = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread
_NONCE_BYTES = 12


def new_totp_secret() -> str:
    """160 random bits in base32, the size RFC 4226 §4 recommends."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    """The ``otpauth://totp/...`` URI an authenticator app reads (from a QR code)."""
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """The URI as an SVG QR code, made here: the secret never leaves for a QR service."""
    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", scale=4, xmldecl=False, svgns=True)
    return out.getvalue().decode()


def matching_step(secret: str, code: str, when: datetime) -> int | None:
    """The time step (of the current one and ``SKEW_STEPS`` either side) whose code is
    ``code``, or ``None``. The caller refuses a step not newer than the last one used."""
    if len(code) != 6 or not (code.isascii() and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret)
    now = totp.timecode(when)
    for step in range(now - SKEW_STEPS, now + SKEW_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def new_recovery_codes(count: int = RECOVERY_CODE_COUNT) -> list[str]:
    """``count`` codes of 10 characters (about 49 bits each), shown as ``xxxxx-xxxxx``."""
    codes = []
    for _ in range(count):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


class FactorKey:
    """Seals TOTP secrets (AES-GCM, bound to their user by the associated data, so a
    sealed secret copied onto another account does not open) and hashes recovery codes
    (HMAC-SHA256: a stolen table cannot be brute-forced without the key)."""

    def __init__(self, secret: bytes) -> None:
        self._seal_key = hashlib.sha256(b"tessera-totp-seal\x00" + secret).digest()
        self._hash_key = hashlib.sha256(b"tessera-recovery-code\x00" + secret).digest()

    def seal(self, user_id: uuid.UUID, totp_secret: str) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + AESGCM(self._seal_key).encrypt(nonce, totp_secret.encode(), user_id.bytes)

    def open(self, user_id: uuid.UUID, sealed: bytes) -> str:
        nonce, box = sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:]
        return AESGCM(self._seal_key).decrypt(nonce, box, user_id.bytes).decode()

    def recovery_hash(self, code: str) -> bytes:
        """The hash of a code as typed: case, spaces and dashes do not matter."""
        canonical = "".join(ch for ch in code.lower() if ch.isalnum())
        return hmac.new(self._hash_key, canonical.encode(), hashlib.sha256).digest()
