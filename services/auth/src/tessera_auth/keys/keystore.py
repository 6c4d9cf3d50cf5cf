"""The auth service's private signing keys: PEM files in ``TESSERA_KEYS_DIR``, one per kid.

Rotation with no downtime: add a key file (it is published in the JWKS at once), make it
active (``TESSERA_ACTIVE_KID``, or simply the greatest kid), and remove the old file once
the access-token lifetime has passed. The directory is re-read when its files change, so
a rotated Kubernetes Secret takes effect without a restart.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from joserfc import jwt
from joserfc.jwk import ECKey, KeyParameters, OKPKey, RSAKey

from tessera_core.settings import SettingsError

__all__ = ["KeyStore", "SigningKey"]

log = structlog.get_logger("tessera.keys")
RELOAD_CHECK_SECONDS = 10.0


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    key: RSAKey | ECKey | OKPKey

    def public_jwk(self) -> dict[str, Any]:
        data = self.key.as_dict(private=False)
        return {**data, "kid": self.kid, "alg": self.alg, "use": "sig"}


def _load_pem(path: Path) -> SigningKey:
    pem = path.read_bytes()
    # Parsed once, by cryptography, and handed to joserfc as the key it is: an RSA key's
    # consistency check costs ~40 ms, and importing the PEM into joserfc as well doubled it.
    private = serialization.load_pem_private_key(pem, password=None)
    kid = path.stem

    def params(alg: str) -> KeyParameters:
        return {"kid": kid, "use": "sig", "alg": alg}

    key: RSAKey | ECKey | OKPKey
    if isinstance(private, rsa.RSAPrivateKey):
        if private.key_size < 2048:
            raise SettingsError(f"{path}: RSA keys must have at least 2048 bits")
        alg, key = "RS256", RSAKey(private, pem, params("RS256"))
    elif isinstance(private, ec.EllipticCurvePrivateKey) and isinstance(
        private.curve, ec.SECP256R1
    ):
        alg, key = "ES256", ECKey(private, pem, params("ES256"))
    elif isinstance(private, ed25519.Ed25519PrivateKey):
        alg, key = "EdDSA", OKPKey(private, pem, params("EdDSA"))
    else:
        raise SettingsError(f"{path}: unsupported key type (use RSA 2048+, EC P-256 or Ed25519)")
    return SigningKey(kid, alg, key)


class KeyStore:
    """Signing keys by kid, the active one, and the public JWKS.

    Example:
        >>> store = KeyStore(Path(".dev/keys"))  # doctest: +SKIP
        >>> token = store.sign({"sub": "42"})  # doctest: +SKIP
    """

    def __init__(self, directory: Path, *, active_kid: str | None = None) -> None:
        self.directory = directory
        self.pinned_kid = active_kid
        self._keys: dict[str, SigningKey] = {}
        self._fingerprint: tuple[tuple[str, float], ...] = ()
        self._checked_at = 0.0
        self._jwks: dict[str, Any] = {"keys": []}
        self.reload()

    def _current_fingerprint(self) -> tuple[tuple[str, float], ...]:
        try:
            return tuple(sorted((p.name, p.stat().st_mtime) for p in self.directory.glob("*.pem")))
        except OSError:
            return ()

    def reload(self) -> None:
        fingerprint = self._current_fingerprint()
        keys = {k.kid: k for k in (_load_pem(p) for p in sorted(self.directory.glob("*.pem")))}
        if not keys:
            raise SettingsError(
                f"no signing keys in {self.directory}: "
                f"generate one with `tessera keys --dir {self.directory}`"
            )
        if self.pinned_kid and self.pinned_kid not in keys:
            raise SettingsError(
                f"TESSERA_ACTIVE_KID={self.pinned_kid} is not a key in {self.directory}"
            )
        self._keys = keys
        self._fingerprint = fingerprint
        self._jwks = {"keys": [k.public_jwk() for k in keys.values()]}
        log.info("signing_keys_loaded", kids=sorted(keys), active=self.active.kid)

    def maybe_reload(self) -> None:
        now = time.monotonic()
        if now - self._checked_at < RELOAD_CHECK_SECONDS:
            return
        self._checked_at = now
        if self._current_fingerprint() != self._fingerprint:
            try:
                self.reload()
            except (SettingsError, OSError, ValueError) as exc:
                # A half-written rotation must not take the service down: keep the old keys.
                log.error("signing_keys_reload_failed", error=str(exc))

    @property
    def active(self) -> SigningKey:
        kid = self.pinned_kid or max(self._keys)
        return self._keys[kid]

    @property
    def ready(self) -> bool:
        return bool(self._keys)

    def jwks(self) -> dict[str, Any]:
        self.maybe_reload()
        return self._jwks

    def sign(self, claims: dict[str, Any]) -> str:
        self.maybe_reload()
        key = self.active
        header = {"alg": key.alg, "kid": key.kid, "typ": "at+jwt"}
        with warnings.catch_warnings():
            # joserfc warns on the JOSE name "EdDSA" (RFC 9864); API.md publishes that name.
            warnings.simplefilter("ignore")
            return jwt.encode(header, claims, key.key, algorithms=[key.alg])
