"""A cache of the auth service's public keys, parsed once and looked up by ``kid``."""

from __future__ import annotations

import asyncio
import json
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import httpx
import structlog
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey, RSAKey

__all__ = [
    "KEY_TYPES",
    "FileJWKSSource",
    "HttpJWKSSource",
    "JWKSCache",
    "JWKSSource",
    "PublicKey",
    "StaticJWKSSource",
    "parse_jwks",
]

PublicKey = RSAKey | ECKey | OKPKey
KEY_TYPES: dict[str, type[RSAKey] | type[ECKey] | type[OKPKey]] = {
    "RSA": RSAKey,
    "EC": ECKey,
    "OKP": OKPKey,
}
log = structlog.get_logger("tessera.jwks")


class JWKSSource(Protocol):
    async def fetch(self) -> dict[str, Any]: ...


class StaticJWKSSource:
    """Keys the process already holds (the auth service verifies its own tokens)."""

    def __init__(self, provider: Callable[[], dict[str, Any]]) -> None:
        self.provider = provider

    async def fetch(self) -> dict[str, Any]:
        return self.provider()


class FileJWKSSource:
    """A JWKS document mounted as a file (a Kubernetes ConfigMap, say)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    async def fetch(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(await asyncio.to_thread(self.path.read_text))
        return data


class HttpJWKSSource:
    """The auth service's ``/.well-known/jwks.json``; the client is injected so tests can
    pass an ``httpx.MockTransport``."""

    def __init__(self, url: str, client: httpx.AsyncClient) -> None:
        self.url = url
        self.client = client

    async def fetch(self) -> dict[str, Any]:
        response = await self.client.get(self.url, timeout=5.0)
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data


def parse_jwks(document: dict[str, Any]) -> dict[str, PublicKey]:
    """Import every usable signing key of a JWKS, by ``kid``; private members are dropped.

    Example:
        >>> parse_jwks({"keys": []})
        {}
    """
    keys: dict[str, PublicKey] = {}
    for entry in document.get("keys", []):
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        kid, kty = entry.get("kid"), entry.get("kty")
        key_type = KEY_TYPES.get(kty) if isinstance(kty, str) else None
        if not isinstance(kid, str) or key_type is None or not isinstance(entry.get("alg"), str):
            continue
        public = {k: v for k, v in entry.items() if k not in {"d", "p", "q", "dp", "dq", "qi"}}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                keys[kid] = key_type.import_key(public)
        except (JoseError, ValueError, TypeError):
            log.warning("jwks_key_skipped", kid=kid)
    return keys


class JWKSCache:
    """Public keys by ``kid``, refreshed every ``max_age`` seconds and once on an unknown
    ``kid`` — but no more often than ``min_refetch_interval``, so a flood of forged
    ``kid``s cannot hammer the auth service. A failed fetch keeps the keys it has.

    Example:
        >>> cache = JWKSCache(FileJWKSSource(Path("jwks.json")))  # doctest: +SKIP
        >>> key = await cache.get("2026-11-rs256")  # doctest: +SKIP
    """

    def __init__(
        self,
        source: JWKSSource,
        *,
        max_age: float = 300.0,
        min_refetch_interval: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.max_age = max_age
        self.min_refetch_interval = min_refetch_interval
        self.clock = clock
        self._keys: dict[str, PublicKey] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._lock = asyncio.Lock()
        self.fetch_count = 0

    @property
    def ready(self) -> bool:
        return bool(self._keys)

    @property
    def kids(self) -> list[str]:
        return list(self._keys)

    async def get(self, kid: str) -> PublicKey | None:
        key = self._keys.get(kid)
        stale = self._fetched_at is None or self.clock() - self._fetched_at > self.max_age
        if key is None or stale:
            await self.refresh(force=key is None)
            key = self._keys.get(kid)
        return key

    async def refresh(self, *, force: bool = False) -> bool:
        """Fetch the keys unless fetched too recently; True when the keys were replaced."""
        async with self._lock:
            now = self.clock()
            if self._attempted_at is not None:
                since = now - self._attempted_at
                if since < self.min_refetch_interval:
                    return False
                if (
                    not force
                    and self._fetched_at is not None
                    and now - self._fetched_at <= self.max_age
                ):
                    return False
            self._attempted_at = now
            self.fetch_count += 1
            try:
                keys = parse_jwks(await self.source.fetch())
            except (httpx.HTTPError, OSError, ValueError) as exc:
                log.warning("jwks_fetch_failed", error=type(exc).__name__, kept=len(self._keys))
                return False
            if not keys:
                log.warning("jwks_empty", kept=len(self._keys))
                return False
            self._keys = keys
            self._fetched_at = now
            return True

    async def wait_ready(self) -> bool:
        """Until keys are held, try one fetch now, ignoring the rate limit (startup and
        readiness probes: this is how a service that started while auth was down recovers)."""
        if self.ready:
            return True
        self._attempted_at = None
        await self.refresh()
        return self.ready
