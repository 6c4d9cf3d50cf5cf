"""Settings for every Tessera process, read from ``TESSERA_*`` environment variables.

Every setting may also come from a file: ``TESSERA_<NAME>_FILE=/run/secrets/x`` reads
the value from that file (Docker and Kubernetes secrets), trailing newline stripped.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

__all__ = [
    "DEFAULT_DEV_CURSOR_SECRET",
    "DEFAULT_DEV_DATABASE_URL",
    "DEFAULT_DEV_FACTOR_KEY",
    "DEFAULT_DEV_REDIS_URL",
    "DEV_ONLY_URL_MARKERS",
    "ENV_PREFIX",
    "OWASP_ARGON2_MIN_MEMORY_KIB",
    "Settings",
    "SettingsError",
    "SigningAlgorithm",
    "SmtpTls",
]

ENV_PREFIX = "TESSERA_"
DEV_ONLY_URL_MARKERS = ("fakeredis", "embedded", "/.dev/")
DEFAULT_DEV_DATABASE_URL = "postgresql+psycopg://tessera:tessera@localhost:5432/tessera"
DEFAULT_DEV_REDIS_URL = "redis://localhost:6379/0"
DEFAULT_DEV_CURSOR_SECRET = "tessera-dev-cursor-secret-change-me"
DEFAULT_DEV_FACTOR_KEY = "tessera-dev-factor-key-for-make-dev-only"

# OWASP's argon2id configurations (Password Storage Cheat Sheet), as the least memory each
# iteration count needs; they are equally strong. Five iterations and more need 7 MiB.
OWASP_ARGON2_MIN_MEMORY_KIB = {1: 46 * 1024, 2: 19 * 1024, 3: 12 * 1024, 4: 9 * 1024, 5: 7 * 1024}

SigningAlgorithm = Literal["RS256", "ES256", "EdDSA"]
SmtpTls = Literal["none", "starttls", "tls"]


class SettingsError(ValueError):
    """A setting is missing or unsafe for the environment; the message says what to set."""


class _FileEnvSource(PydanticBaseSettingsSource):
    """Reads ``TESSERA_<NAME>_FILE`` for any field, so secrets never sit in the environment."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        path = os.environ.get(f"{ENV_PREFIX}{field_name.upper()}_FILE")
        if not path:
            return None, field_name, False
        try:
            return Path(path).read_text().rstrip("\r\n"), field_name, False
        except OSError as exc:
            raise SettingsError(
                f"{ENV_PREFIX}{field_name.upper()}_FILE={path} cannot be read: {exc.strerror}"
            ) from exc

    def __call__(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, field in self.settings_cls.model_fields.items():
            value, key, _ = self.get_field_value(field, name)
            if value is not None:
                values[key] = value
        return values


class Settings(BaseSettings):
    """All settings of both services; each service reads the ones it needs.

    Example:
        >>> Settings(env="dev").access_token_ttl_seconds
        900
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    env: Literal["dev", "test", "production"] = "production"
    service_name: str = "tessera"

    database_url: SecretStr = SecretStr(DEFAULT_DEV_DATABASE_URL)
    # The worker's one pool: a replica opens workers x pool size connections at most.
    database_pool_size: int = Field(20, ge=1)
    database_max_overflow: int = Field(0, ge=0)
    redis_url: SecretStr = SecretStr(DEFAULT_DEV_REDIS_URL)
    redis_timeout_seconds: float = Field(1.0, gt=0)
    # Revocations live in Redis with TTLs: a policy that evicts such keys can drop one. Set
    # true only for a Redis that cannot run noeviction; resyncs then bound each loss.
    redis_allow_eviction: bool = False
    revocation_resync_seconds: float = Field(30.0, gt=0)

    issuer: str = "http://localhost:8000"
    audience: str = "tessera"
    public_url: str | None = None
    allowed_algorithms: list[SigningAlgorithm] = ["RS256", "ES256", "EdDSA"]
    leeway_seconds: int = Field(30, ge=0, le=300)

    access_token_ttl_seconds: int = Field(900, ge=30)
    refresh_token_ttl_seconds: int = Field(7 * 86400, ge=60)
    session_max_age_seconds: int = Field(30 * 86400, ge=60)
    refresh_reuse_grace_seconds: int = Field(0, ge=0, le=300)
    default_client_id: str = "tessera"

    keys_dir: Path | None = None
    active_kid: str | None = None
    signing_algorithm: SigningAlgorithm = "RS256"

    jwks_url: str | None = None
    jwks_file: Path | None = None
    jwks_cache_seconds: int = Field(300, ge=1)
    jwks_refetch_min_interval_seconds: float = Field(30.0, ge=0)

    # Signs the users service's pagination cursors (HMAC-SHA256), so a client cannot forge one.
    cursor_secret: SecretStr = SecretStr(DEFAULT_DEV_CURSOR_SECRET)

    # Seals TOTP secrets (AES-GCM) and keys the recovery codes' hashes (HMAC-SHA256): 32+
    # characters. Unset outside dev, second factors cannot be enrolled (503).
    factor_key: SecretStr | None = None
    totp_issuer: str = "Tessera"
    # Passkeys (WebAuthn): the relying party is the site's registrable domain (the gateway's
    # host), and a ceremony counts only from one of these origins.
    webauthn_rp_id: str = "localhost"
    webauthn_rp_name: str = "Tessera"
    webauthn_origins: list[str] = ["http://localhost:8000"]
    # A login that needs a second factor: how long its challenge lives, and how many wrong
    # codes it takes before it is void (the account's own counters apply too).
    second_factor_challenge_seconds: int = Field(300, ge=30, le=3600)
    second_factor_challenge_attempts: int = Field(5, ge=1, le=20)

    # Step-up (RFC 9470): a password or email change, an admin's change of roles or
    # activity, and an admin's removal of someone's factors need a login this recent (and
    # a second factor where the account has one); with this set, every admin needs one.
    step_up_max_age_seconds: int = Field(600, ge=30)
    admins_require_second_factor: bool = False

    # Service accounts' keys registered by URL (private_key_jwt, docs/service-accounts.md):
    # how long a worker trusts a fetched key set, and the least time between two fetches of
    # one URL caused by an unknown kid (or by a failed fetch).
    jwks_uri_cache_seconds: int = Field(300, ge=1)
    jwks_uri_refetch_min_interval_seconds: float = Field(30.0, ge=0)
    # Requests to URLs others register (tessera_core.outbound): hosts and networks they may
    # reach although not global (outside dev, loopback, private, link-local... are refused),
    # and how long a connect or a read waits.
    outbound_allow: list[str] = []
    outbound_timeout_seconds: float = Field(2.0, gt=0, le=30)

    # Personal access tokens (docs/personal-access-tokens.md): the longest lifetime one may be
    # given; how long a worker trusts a token's row it read (revocation is asked of Redis on
    # every request regardless; kept under half the fast path's window); how often a worker
    # writes the last uses it saw.
    pat_max_days: int = Field(365, ge=1, le=3650)
    pat_cache_seconds: float = Field(60.0, ge=0, le=600)
    pat_last_used_flush_seconds: float = Field(60.0, gt=0)

    # Failed password checks before 429 (tessera_core.accounts.throttle): strict from one address,
    # looser across addresses (a stranger cannot lock the owner out everywhere), and per
    # address across accounts.
    login_max_failures_per_account_and_client: int = Field(5, ge=1)
    login_max_failures_per_account: int = Field(50, ge=1)
    login_max_failures_per_client: int = Field(100, ge=1)
    login_failure_window_seconds: int = Field(900, ge=1)
    # Every limit keyed by a client address counts an IPv6 client by this prefix of its
    # address: one host is commonly given a /64, so one address each would be 2**64 clients.
    ipv6_client_prefix: int = Field(64, ge=32, le=128)
    password_hash_threads: int = Field(2, ge=1)
    # argon2id's cost: OWASP's first configuration by default. Lower only for tests (each
    # hash then takes microseconds); outside dev and test a cost below OWASP's is refused.
    password_hash_memory_kib: int = Field(19 * 1024, ge=8)
    password_hash_time_cost: int = Field(2, ge=1)
    common_passwords_file: Path | None = None

    bootstrap_admin_username: str | None = None
    bootstrap_admin_password: SecretStr | None = None
    bootstrap_admin_email: str | None = None

    # Mail (account recovery, email verification). Messages go to the mail_outbox table in
    # the transaction of the change that causes them; the auth service delivers them over
    # SMTP. No host: nothing is delivered (messages wait in the outbox).
    smtp_host: str | None = None
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_tls: SmtpTls = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_seconds: float = Field(10.0, gt=0)
    mail_from: str = "Tessera <no-reply@localhost>"
    # The client app's URL: links in mail point at <base>/reset-password?token=... and
    # <base>/verify-email?token=... (default: the public URL).
    mail_link_base: str | None = None
    # A directory of templates that replace the shipped ones by file name.
    mail_templates_dir: Path | None = None
    mail_max_attempts: int = Field(8, ge=1)
    mail_backoff_seconds: float = Field(30.0, gt=0)
    mail_backoff_max_seconds: float = Field(3600.0, gt=0)
    mail_poll_seconds: float = Field(2.0, gt=0)

    # `make dev` (tessera-dev) only: where its catcher writes mail, shown at
    # /api/v1/auth/dev/mail.
    dev_mail_dir: Path | None = None

    password_reset_ttl_seconds: int = Field(1800, ge=60)
    # A new reset link replaces an unused one only once that one is this old: a stranger's
    # request cannot void the link the owner is following.
    password_reset_min_interval_seconds: int = Field(300, ge=0)
    email_verification_ttl_seconds: int = Field(86400, ge=60)
    require_verified_email: bool = False
    # Reset and verification mail requested, per window: per address asked for from one
    # client (strict) and from all clients (looser, so a stranger cannot use up the owner's
    # requests), per client address, and (verification resends) per account.
    mail_requests_per_email: int = Field(3, ge=1)
    mail_requests_per_email_across_clients: int = Field(10, ge=1)
    mail_requests_per_client: int = Field(20, ge=1)
    mail_request_window_seconds: int = Field(3600, ge=1)
    # Per window, whatever the path: messages queued to one address (canonical form; a
    # password reset is always queued, being bounded per account already), email changes
    # of one account, registrations from one client.
    mail_per_recipient: int = Field(10, ge=1)
    email_changes_per_account: int = Field(3, ge=1)
    registrations_per_client: int = Field(20, ge=1)
    # A forgotten-password request is answered no sooner than this, known address or not.
    password_forgot_min_seconds: float = Field(0.2, ge=0)

    max_body_bytes: int = Field(1024 * 1024, ge=1024)
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: str = "INFO"
    cors_origins: list[str] = []

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        assert isinstance(env_settings, EnvSettingsSource)
        return (init_settings, _FileEnvSource(settings_cls), env_settings)

    @model_validator(mode="after")
    def _lifetimes_are_ordered(self) -> Settings:
        if self.refresh_token_ttl_seconds > self.session_max_age_seconds:
            raise ValueError(
                "TESSERA_REFRESH_TOKEN_TTL_SECONDS must not exceed TESSERA_SESSION_MAX_AGE_SECONDS"
            )
        return self

    @property
    def factor_secret(self) -> bytes | None:
        """The key that seals second factors: ``TESSERA_FACTOR_KEY``, or in dev and test a
        built-in one; ``None`` when second factors cannot be enrolled here."""
        if self.factor_key is not None and len(self.factor_key.get_secret_value()) >= 32:
            return self.factor_key.get_secret_value().encode()
        return DEFAULT_DEV_FACTOR_KEY.encode() if self.env in ("dev", "test") else None

    @property
    def is_dev(self) -> bool:
        return self.env == "dev"

    @property
    def password_hash_meets_owasp(self) -> bool:
        """True when the argon2id cost is at least one of OWASP's configurations."""
        needed = OWASP_ARGON2_MIN_MEMORY_KIB[min(self.password_hash_time_cost, 5)]
        return self.password_hash_memory_kib >= needed

    @property
    def base_url(self) -> str:
        """Where clients reach the platform; defaults to the issuer."""
        return (self.public_url or self.issuer).rstrip("/")

    @property
    def link_base(self) -> str:
        """Where links in mail point: the client app (``TESSERA_MAIL_LINK_BASE``)."""
        return (self.mail_link_base or self.base_url).rstrip("/")

    def require_production_safe(
        self, *, needs_signing_keys: bool = False, needs_cursor_secret: bool = False
    ) -> None:
        """Refuse dev backends and default secrets outside ``TESSERA_ENV=dev``.

        Args:
            needs_signing_keys: the caller signs tokens (auth): ``TESSERA_KEYS_DIR`` is required.
            needs_cursor_secret: the caller signs cursors (users): ``TESSERA_CURSOR_SECRET``
                must not be the built-in default and must hold at least 32 characters.

        Raises:
            SettingsError: naming the variable to set.
        """
        if self.is_dev:
            return
        problems: list[str] = []
        db_url = self.database_url.get_secret_value()
        redis_url = self.redis_url.get_secret_value()
        if db_url == DEFAULT_DEV_DATABASE_URL:
            problems.append("TESSERA_DATABASE_URL is the built-in development default")
        if redis_url == DEFAULT_DEV_REDIS_URL:
            problems.append("TESSERA_REDIS_URL is the built-in development default")
        for name, url in (("TESSERA_DATABASE_URL", db_url), ("TESSERA_REDIS_URL", redis_url)):
            if any(marker in url for marker in DEV_ONLY_URL_MARKERS):
                problems.append(f"{name} points at a development-only backend")
        # Left unset, every deployment would name itself http://localhost:8000 in its tokens
        # and its OAuth metadata, and share one audience with every other.
        for name in ("issuer", "audience"):
            if name not in self.model_fields_set:
                problems.append(f"TESSERA_{name.upper()} is not set (its default is for dev)")
        if self.bootstrap_admin_password and self.bootstrap_admin_password.get_secret_value() in {
            "admin",
            "password",
            "changeme",
        }:
            problems.append("TESSERA_BOOTSTRAP_ADMIN_PASSWORD is a well-known default")
        if self.dev_mail_dir is not None:
            problems.append("TESSERA_DEV_MAIL_DIR is set (it is for `make dev` only)")
        if needs_signing_keys and self.keys_dir is None:
            problems.append("TESSERA_KEYS_DIR is not set (generate keys with `tessera keys`)")
        cursor_secret = self.cursor_secret.get_secret_value()
        if needs_cursor_secret and cursor_secret == DEFAULT_DEV_CURSOR_SECRET:
            problems.append("TESSERA_CURSOR_SECRET is the built-in development default")
        elif needs_cursor_secret and len(cursor_secret) < 32:
            problems.append("TESSERA_CURSOR_SECRET is shorter than 32 characters")
        if self.factor_key is not None and len(self.factor_key.get_secret_value()) < 32:
            problems.append("TESSERA_FACTOR_KEY is shorter than 32 characters")
        if self.env == "production" and not self.password_hash_meets_owasp:
            problems.append(
                "TESSERA_PASSWORD_HASH_MEMORY_KIB and TESSERA_PASSWORD_HASH_TIME_COST are below"
                " OWASP's argon2id minimum (19456 KiB with 2 iterations, or an equal trade)"
            )
        if problems:
            raise SettingsError(
                f"refusing to start with TESSERA_ENV={self.env}: "
                + "; ".join(problems)
                + ". Set them, or set TESSERA_ENV=dev for a development machine."
            )
