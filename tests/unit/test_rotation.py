"""The refresh rules (``rotation_of``): what presenting a locked refresh token comes to."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tessera_auth.sessions.repository import RefreshTokenRow
from tessera_auth.sessions.service import Rotation, rotation_of
from tessera_core.settings import Settings

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
STRICT = Settings(env="test", refresh_reuse_grace_seconds=0)
GRACEFUL = Settings(env="test", refresh_reuse_grace_seconds=10)


def live_token(**changes: object) -> RefreshTokenRow:
    """An unspent token of a live session of an active user; ``changes`` break it."""
    token = RefreshTokenRow(
        token_id=uuid.uuid4(),
        session_id=uuid.uuid4(),
        spent_at=None,
        expires_at=NOW + timedelta(days=7),
        session_revoked_at=None,
        session_expires_at=NOW + timedelta(days=30),
        client_id="tessera",
        session_created_at=NOW - timedelta(days=1),
        scope=None,
        amr=["pwd"],
        user_id=uuid.uuid4(),
        username="alice",
        is_admin=False,
        is_active=True,
        email_verified=True,
    )
    return dataclasses.replace(token, **changes)  # type: ignore[arg-type]


class TestRotationOf:
    def test_a_live_token_rotates(self):
        assert rotation_of(live_token(), NOW, STRICT) is Rotation.ROTATE

    def test_a_token_of_a_revoked_session_is_refused(self):
        token = live_token(session_revoked_at=NOW - timedelta(minutes=1))
        assert rotation_of(token, NOW, STRICT) is Rotation.SESSION_REVOKED

    def test_a_spent_token_is_reuse(self):
        token = live_token(spent_at=NOW - timedelta(seconds=1))
        assert rotation_of(token, NOW, STRICT) is Rotation.REUSED

    def test_a_token_spent_this_very_instant_is_not_yet_reuse_without_grace(self):
        # Reuse is "spent more than the grace ago": at zero grace, the same instant is not.
        assert rotation_of(live_token(spent_at=NOW), NOW, STRICT) is Rotation.ROTATE

    def test_a_token_spent_within_the_grace_window_rotates_again(self):
        token = live_token(spent_at=NOW - timedelta(seconds=10))
        assert rotation_of(token, NOW, GRACEFUL) is Rotation.ROTATE

    def test_a_token_spent_past_the_grace_window_is_reuse(self):
        token = live_token(spent_at=NOW - timedelta(seconds=10, microseconds=1))
        assert rotation_of(token, NOW, GRACEFUL) is Rotation.REUSED

    def test_an_expired_token_is_refused(self):
        assert rotation_of(live_token(expires_at=NOW), NOW, STRICT) is Rotation.EXPIRED

    def test_a_token_of_an_expired_session_is_refused(self):
        token = live_token(session_expires_at=NOW - timedelta(seconds=1))
        assert rotation_of(token, NOW, STRICT) is Rotation.EXPIRED

    def test_a_token_of_an_inactive_account_is_refused(self):
        assert rotation_of(live_token(is_active=False), NOW, STRICT) is Rotation.ACCOUNT_INACTIVE

    @pytest.mark.parametrize(
        ("changes", "expected"),
        [
            # Reuse wins even over a revoked session (API.md: a spent token presented again
            # is refresh_token_reused); revoking that session again adds nothing.
            ({"session_revoked_at": NOW, "spent_at": NOW - timedelta(days=1)}, "reused"),
            ({"session_revoked_at": NOW, "spent_at": NOW}, "session_revoked"),
            # Reuse is detected even on an expired token: a stolen copy still ends the session.
            ({"spent_at": NOW - timedelta(days=1), "expires_at": NOW}, "reused"),
            ({"spent_at": NOW - timedelta(days=1), "is_active": False}, "reused"),
            ({"expires_at": NOW, "is_active": False}, "expired"),
        ],
    )
    def test_the_rules_apply_in_order(self, changes: dict[str, object], expected: str):
        assert rotation_of(live_token(**changes), NOW, STRICT) is Rotation(expected)
