"""Password hashing (argon2id, off the event loop) and the password policy of API.md."""

from __future__ import annotations

import asyncio
import gzip
import re
from concurrent.futures import ThreadPoolExecutor
from difflib import SequenceMatcher
from functools import lru_cache
from importlib import resources
from pathlib import Path

from argon2 import PasswordHasher as Argon2Hasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from tessera_core.ops.metrics import PASSWORD_CHECKS

__all__ = [
    "MAX_LENGTH",
    "MAX_SIMILARITY",
    "MIN_LENGTH",
    "PasswordHasher",
    "common_passwords",
    "owasp_argon2",
    "password_problems",
]

MIN_LENGTH = 8
MAX_LENGTH = 1024
MAX_SIMILARITY = 0.7


def owasp_argon2(*, memory_kib: int = 19 * 1024, time_cost: int = 2) -> Argon2Hasher:
    """argon2id, one lane; by default OWASP's first recommendation: 19 MiB, 2 iterations.

    Example:
        >>> owasp_argon2().hash("x").startswith("$argon2id$v=19$m=19456,t=2,p=1$")
        True
    """
    return Argon2Hasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)


class PasswordHasher:
    """Hashes and verifies on a bounded thread pool so logins never block the event loop,
    and never run more argon2 computations at once than the pool allows.

    Example:
        >>> hasher = PasswordHasher(threads=1)
        >>> digest = asyncio.run(hasher.hash("correct horse battery"))
        >>> asyncio.run(hasher.verify(digest, "correct horse battery"))
        True
    """

    def __init__(
        self,
        *,
        threads: int = 2,
        memory_kib: int = 19 * 1024,
        time_cost: int = 2,
        argon2: Argon2Hasher | None = None,
    ) -> None:
        self.argon2 = argon2 or owasp_argon2(memory_kib=memory_kib, time_cost=time_cost)
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="argon2")
        # A real hash of a random string: unknown users are verified against it so that
        # login takes the same time whether the account exists or not.
        self._dummy_hash = self.argon2.hash("tessera-dummy-password-for-timing")

    async def hash(self, password: str) -> str:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self.argon2.hash, password)

    async def verify(self, digest: str | None, password: str) -> bool:
        """True if ``password`` matches; ``digest=None`` burns the same time and is False."""
        PASSWORD_CHECKS.inc()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._pool, self._verify_sync, digest or self._dummy_hash, password, digest is None
        )

    def _verify_sync(self, digest: str, password: str, dummy: bool) -> bool:
        try:
            return self.argon2.verify(digest, password) and not dummy
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, digest: str) -> bool:
        return self.argon2.check_needs_rehash(digest)

    def close(self) -> None:
        self._pool.shutdown(wait=False)


@lru_cache(maxsize=4)
def common_passwords(path: Path | None = None) -> frozenset[str]:
    """The shipped list of the 20,000 most common passwords (or a custom gzip/text file)."""
    if path is None:
        data = resources.files(__package__).joinpath("data/common-passwords.txt.gz").read_bytes()
    else:
        data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return frozenset(line.strip().lower() for line in data.decode().splitlines() if line.strip())


def _similar(password: str, attribute: str) -> bool:
    password = password.lower()
    for part in {attribute.lower(), *re.split(r"\W+", attribute.lower())}:
        if len(part) < 3:
            continue
        if part in password and len(part) * 2 >= len(password):
            return True
        if SequenceMatcher(a=password, b=part).quick_ratio() >= MAX_SIMILARITY and (
            SequenceMatcher(a=password, b=part).ratio() >= MAX_SIMILARITY
        ):
            return True
    return False


def password_problems(
    password: str, *, username: str = "", email: str = "", common: frozenset[str] | None = None
) -> list[str]:
    """Why a password is too weak; empty when it is acceptable (Django's four validators).

    Example:
        >>> password_problems("12345678")
        ['This password is too common.', 'This password is entirely numeric.']
        >>> password_problems("tr0mbone-staple-42", username="alice")
        []
    """
    problems: list[str] = []
    if len(password) < MIN_LENGTH:
        problems.append(
            f"This password is too short. It must contain at least {MIN_LENGTH} characters."
        )
    if len(password) > MAX_LENGTH:
        problems.append(
            f"This password is too long. It may contain at most {MAX_LENGTH} characters."
        )
    if password.strip().lower() in (common if common is not None else common_passwords()):
        problems.append("This password is too common.")
    if password.isdigit():
        problems.append("This password is entirely numeric.")
    for label, value in (("username", username), ("email", email)):
        if value and _similar(password, value):
            problems.append(f"This password is too similar to the {label}.")
    return problems
