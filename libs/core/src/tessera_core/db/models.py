"""ORM models of the one Tessera database, shared by both services."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ColumnElement,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
    literal_column,
    not_,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, INET, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tessera_core.db.engine import Base

__all__ = [
    "USER_SEARCH_INDEX_EXPRESSION",
    "AccountToken",
    "LoginSession",
    "MailOutbox",
    "Passkey",
    "PersonalAccessToken",
    "RecoveryCode",
    "RefreshToken",
    "RevokedAccessToken",
    "ServiceAccount",
    "ServiceAccountSecret",
    "TotpFactor",
    "User",
    "UserIdentifier",
    "roles_of",
    "user_search_text",
]

USER_SEARCH_INDEX_EXPRESSION = (
    "lower((((username::text || chr(31)) || email::text) || chr(31)) || nickname::text)"
)


class User(Base):
    __tablename__ = "user"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    username: Mapped[str] = mapped_column(String(150))
    email: Mapped[str] = mapped_column(String(254))
    password_hash: Mapped[str] = mapped_column(Text)
    nickname: Mapped[str] = mapped_column(String(150), default="", server_default="")
    first_name: Mapped[str] = mapped_column(String(150), default="", server_default="")
    last_name: Mapped[str] = mapped_column(String(150), default="", server_default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    # Set by following a verification link (or a reset link sent to the same address);
    # cleared by every email change.
    email_verified: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=text("false")
    )
    date_joined: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    last_login: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Access tokens issued before this instant are dead (logout-all, deactivation).
    tokens_not_before: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A service account's row (``ServiceAccount``): no password logs in to it, and its
    # tokens are refused by the rows only a person uses (docs/service-accounts.md).
    is_service: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))

    sessions: Mapped[list[LoginSession]] = relationship(back_populates="user", lazy="raise")
    identifiers: Mapped[list[UserIdentifier]] = relationship(
        back_populates="user", lazy="raise", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (
        # lower(username) is unique, so it alone is a total order: the users listing sorts
        # by it (case-insensitively) and pages through it with this index, no tiebreaker.
        Index("uq_user_username_lower", func.lower(username), unique=True),
        Index("uq_user_email_lower", func.lower(email), unique=True),
        Index("ix_user_date_joined_id", "date_joined", "id"),
        Index("ix_user_tokens_not_before", "tokens_not_before"),
        # One trigram index over user_search_text() (pg_trgm, migration 0002): one bitmap scan
        # with a good row estimate, where three per-column indexes OR-ed together looked
        # dearer than a full scan to the planner. Spelled as PostgreSQL reflects it, so
        # autogenerate compares it cleanly.
        Index(
            "ix_user_search_trgm",
            literal_column(USER_SEARCH_INDEX_EXPRESSION).label("search"),
            postgresql_using="gin",
            postgresql_ops={"search": "gin_trgm_ops"},
        ),
        # The listing filtered on a rare value (admins, deactivated accounts, service
        # accounts): small partial indexes, so such a page does not walk the whole ordering
        # index to find 20 rows.
        Index("ix_user_admin_date_joined_id", "date_joined", "id", postgresql_where=is_admin),
        Index("ix_user_admin_username_lower", func.lower(username), postgresql_where=is_admin),
        Index(
            "ix_user_inactive_date_joined_id", "date_joined", "id", postgresql_where=not_(is_active)
        ),
        Index(
            "ix_user_inactive_username_lower",
            func.lower(username),
            postgresql_where=not_(is_active),
        ),
        Index("ix_user_service_date_joined_id", "date_joined", "id", postgresql_where=is_service),
        Index("ix_user_service_username_lower", func.lower(username), postgresql_where=is_service),
    )

    @property
    def roles(self) -> list[str]:
        return roles_of(is_admin=self.is_admin, is_service=self.is_service)


def roles_of(*, is_admin: bool, is_service: bool = False) -> list[str]:
    """An account's ``roles`` claim. A service account says ``service``, never ``admin``:
    its row may act on other accounts (``is_admin``), but only within its scopes, and a
    downstream service that trusts ``roles`` alone must not take a robot for a person with
    every power."""
    if is_service:
        return ["service"]
    return ["admin"] if is_admin else []


def user_search_text() -> ColumnElement[str]:
    """What the users listing's ``search`` matches: lower(username, email, nickname), joined
    by U+001F, which a search term never holds, so no match spans two fields."""
    # A literal, not a bound parameter: the planner must see the index's own expression.
    separator = func.chr(literal_column("31"))
    return func.lower(User.username + separator + User.email + separator + User.nickname)


class UserIdentifier(Base):
    """Every string that names an account at login (its username, its email), in canonical
    form (``tessera_core.accounts.users.identifier_key``). One primary key over both kinds: a
    username can never equal another account's email, however concurrent the claims."""

    __tablename__ = "user_identifier"

    key: Mapped[str] = mapped_column(Text, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))

    user: Mapped[User] = relationship(back_populates="identifiers", lazy="raise")


class LoginSession(Base):
    """One login: every refresh and access token descended from it shares its ``sid``."""

    __tablename__ = "login_session"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), index=True
    )
    client_id: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_used_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    revoked_reason: Mapped[str | None] = mapped_column(String(50))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    ip: Mapped[str | None] = mapped_column(INET)
    # How the login was proved (RFC 8176 values): every token of the session carries it.
    amr: Mapped[list[str]] = mapped_column(
        ARRAY(String(16)), server_default=text("'{pwd}'::varchar[]")
    )
    # The scopes a grant narrowed the session to (space-separated); NULL: everything the
    # user's roles allow when each token is minted (a human login). A refresh keeps it.
    scope: Mapped[str | None] = mapped_column(String(1024))

    user: Mapped[User] = relationship(back_populates="sessions", lazy="raise")


class PersonalAccessToken(Base):
    """A personal access token (``tessera_core.tokens.pat``), stored only as its SHA-256. It
    owns a login session (``amr`` ``{pat}``): revoking that session revokes the token, and
    whatever ends every session of the user (a deactivation, a password reset, logout-all)
    ends it too."""

    __tablename__ = "personal_access_token"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), index=True
    )
    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("login_session.id", ondelete="CASCADE"), unique=True
    )
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    scope: Mapped[str] = mapped_column(String(1024))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Written in batches, not per request (``tessera_core.tokens.pat_verify``).
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ServiceAccount(Base):
    """What only a service account has beside its ``user`` row (``is_service``): its
    ``client_id``, name and scope, and who created it. Its tokens are the user's, so the
    user's revocation (deactivation, ``tokens_not_before``) revokes them all."""

    __tablename__ = "service_account"
    # Keys come from one place: the set itself or the URL that serves it (migration 0012).
    __table_args__ = (CheckConstraint("jwks IS NULL OR jwks_uri IS NULL", name="one_key_source"),)

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), primary_key=True
    )
    client_id: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    scope: Mapped[str] = mapped_column(String(1024))
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # The public JWK set its RFC 7523 client assertions are checked against (private_key_jwt).
    # (none_as_null: None is SQL NULL, not the JSON null, which the CHECK below would count.)
    jwks: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True))
    # Or the https URL that serves that set, fetched when a client authenticates (cached per
    # worker, tessera_core.outbound); never both.
    jwks_uri: Mapped[str | None] = mapped_column(String(2048))
    # The login session every token issued on an assertion carries (``amr`` ``{private_key}``):
    # replacing the keys revokes it, and so the tokens the old keys obtained.
    key_session_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("login_session.id", ondelete="SET NULL")
    )

    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="raise")


class ServiceAccountSecret(Base):
    """One of a service account's secrets (at most two live: rotation with overlap), stored
    only as its SHA-256. It owns a login session (``amr`` ``{client_secret}``): every token
    issued with it carries that ``sid``, so deleting the secret revokes its tokens and no
    other secret's."""

    __tablename__ = "service_account_secret"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    service_account_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("service_account.user_id", ondelete="CASCADE"), index=True
    )
    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("login_session.id", ondelete="CASCADE"), unique=True
    )
    secret_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class RefreshToken(Base):
    """A refresh token, stored only as its SHA-256: the database never holds a usable token."""

    __tablename__ = "refresh_token"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("login_session.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    spent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RevokedAccessToken(Base):
    """Source of truth for single revoked access tokens, kept until they expire anyway."""

    __tablename__ = "revoked_access_token"

    issuer: Mapped[str] = mapped_column(String(255), primary_key=True)
    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    # Whose token it was: the Redis copy lives in that user's hash slot (migration 0003).
    user_id: Mapped[uuid.UUID | None] = mapped_column()


class AccountToken(Base):
    """A single-use link token mailed to a user (``reset`` a password, ``verify`` an email),
    stored only as its SHA-256. ``email`` is the address it was sent to: the token is void
    once the account's email is another one."""

    __tablename__ = "account_token"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    email: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("purpose IN ('reset', 'verify')", name="purpose"),
        Index("ix_account_token_user_id_purpose", "user_id", "purpose"),
    )


class TotpFactor(Base):
    """An account's TOTP secret (RFC 6238), encrypted with ``TESSERA_FACTOR_KEY`` and bound
    to its user. It counts once ``confirmed_at`` is set (one valid code after enrolling);
    ``last_step`` is the newest time step a code was accepted for, so no code works twice."""

    __tablename__ = "totp_factor"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), primary_key=True
    )
    secret_sealed: Mapped[bytes] = mapped_column(LargeBinary(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_step: Mapped[int | None] = mapped_column(BigInteger)


class Passkey(Base):
    """A WebAuthn credential of an account (a passkey): its public key, the signature counter
    its authenticator last reported, and the name its owner gave it."""

    __tablename__ = "passkey"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), index=True
    )
    credential_id: Mapped[bytes] = mapped_column(LargeBinary(1023), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    name: Mapped[str] = mapped_column(String(64))
    backed_up: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RecoveryCode(Base):
    """A single-use recovery code, stored only as its keyed hash (HMAC with the factor key)."""

    __tablename__ = "recovery_code"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (UniqueConstraint("user_id", "code_hash"),)


class MailOutbox(Base):
    """A message to deliver, written in the transaction of the change that causes it and
    sent by the auth service's delivery loop (``pending`` → ``sent``, or ``dead`` after
    ``TESSERA_MAIL_MAX_ATTEMPTS`` failures). Bodies are emptied once sent: they may hold a
    live link."""

    __tablename__ = "mail_outbox"

    id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)
    kind: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(Text)
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("status IN ('pending', 'sent', 'dead')", name="status"),
        # The delivery loop's claim: due pending rows, oldest first.
        Index(
            "ix_mail_outbox_due",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
    )
