"""Password reset and email verification, with mail delivered to a real SMTP server
(aiosmtpd in a process) by the auth app's own delivery loop."""

from __future__ import annotations

import base64
import json
import statistics
import time
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tessera_auth.mail.mailbox import CaughtMail
from tests.fixtures.apps import PASSWORD, SettingsFactory, bearer, built_auth_app, running
from tests.fixtures.smtp import SmtpServer, link_token

FORGOT = "/api/v1/auth/password/forgot"
RESET = "/api/v1/auth/password/reset"
VERIFY = "/api/v1/auth/email/verify"
RESEND = "/api/v1/auth/email/verify/resend"
NEW_PASSWORD = "brand-new-cornet-77"
RESET_SUBJECT = "Reset your password"
VERIFY_SUBJECT = "Confirm your email address"
LINK_BASE = "https://app.test"


def mail_settings(smtp: SmtpServer, **overrides: Any) -> dict[str, Any]:
    return {
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp.port,
        "smtp_tls": "none",
        "mail_poll_seconds": 0.05,
        "mail_link_base": LINK_BASE,
        "password_forgot_min_seconds": 0.05,
        **overrides,
    }


@pytest.fixture
def auth_app(make_settings: SettingsFactory, smtp_server: SmtpServer) -> FastAPI:
    return built_auth_app(make_settings(**mail_settings(smtp_server)))


def token_claims(access_token: str) -> dict[str, Any]:
    payload = access_token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


async def reset_link(client: httpx.AsyncClient, smtp: SmtpServer, email: str) -> str:
    """Ask for a reset link for ``email`` and read it from the mail that arrives."""

    def is_reset(m: CaughtMail) -> bool:
        return m.recipient == email and m.subject == RESET_SUBJECT

    before = len([m for m in smtp.messages() if is_reset(m)])
    response = await client.post(FORGOT, json={"email": email})
    assert response.status_code == 202, response.text
    mails = await smtp.wait_for(before + 1, where=is_reset)
    assert len(mails) == before + 1, f"no reset mail to {email}"
    return link_token(mails[-1], "/reset-password")


class TestForgotPassword:
    async def test_known_and_unknown_addresses_get_the_same_answer(
        self, auth_client, user, smtp_server
    ):
        known = await auth_client.post(FORGOT, json={"email": user["email"]})
        unknown = await auth_client.post(FORGOT, json={"email": "nobody@example.com"})
        assert known.status_code == unknown.status_code == 202
        assert known.json() == unknown.json()
        mail = await smtp_server.mail_to(user["email"], RESET_SUBJECT)
        assert f"{LINK_BASE}/reset-password?token=" in mail.body()  # TESSERA_MAIL_LINK_BASE
        assert len(link_token(mail, "/reset-password")) >= 43  # 256 bits, base64url
        assert "reset-password?token=" in mail.body("html")
        assert not [m for m in smtp_server.messages() if m.recipient == "nobody@example.com"]

    async def test_a_username_sends_nothing(self, auth_client, user, smtp_server):
        response = await auth_client.post(FORGOT, json={"email": user["username"] + "@x.io"})
        assert response.status_code == 202
        response = await auth_client.post(FORGOT, json={"email": user["username"]})
        assert response.status_code == 202  # the one answer: it tells nothing
        await smtp_server.wait_for(1, timeout=1.0)  # the verification mail of registration
        assert [m.subject for m in smtp_server.messages()] == [VERIFY_SUBJECT]

    async def test_only_a_hash_of_the_token_is_stored(
        self, auth_client, user, smtp_server, db_engine: AsyncEngine
    ):
        token = await reset_link(auth_client, smtp_server, user["email"])
        async with db_engine.connect() as conn:
            stored = (
                await conn.execute(
                    text("SELECT token_hash FROM account_token WHERE purpose='reset'")
                )
            ).scalar_one()
            outbox = (
                await conn.execute(
                    text("SELECT body_text FROM mail_outbox WHERE kind='password_reset'")
                )
            ).scalar_one()
        assert token.encode() not in bytes(stored)
        assert len(bytes(stored)) == 32
        assert outbox == ""  # the body of a sent message is not kept

    async def test_too_many_requests_for_one_address_are_refused_known_or_not(
        self, auth_client, user
    ):
        for email in (user["email"], "nobody@example.com"):
            answers = [
                (await auth_client.post(FORGOT, json={"email": email})).status_code
                for _ in range(4)
            ]
            assert answers == [202, 202, 202, 429]
        response = await auth_client.post(FORGOT, json={"email": user["email"]})
        assert response.json()["code"] == "too_many_requests"
        assert int(response.headers["Retry-After"]) > 0

    async def test_known_and_unknown_take_about_the_same_time(
        self, make_settings, smtp_server, register_user
    ):
        from tessera_auth.app import create_app

        app = create_app(
            make_settings(
                **mail_settings(
                    smtp_server,
                    password_forgot_min_seconds=0.2,
                    mail_requests_per_email=1000,
                    mail_requests_per_email_across_clients=1000,
                    mail_requests_per_client=1000,
                )
            )
        )
        async with running(app) as client:
            body = {"username": "timed", "email": "timed@example.com", "password": PASSWORD}
            assert (await client.post("/api/v1/auth/register", json=body)).status_code == 201
            timings: dict[str, list[float]] = {"known": [], "unknown": []}
            bodies = set()
            for i in range(14):
                for kind in ("known", "unknown") if i % 2 else ("unknown", "known"):
                    email = "timed@example.com" if kind == "known" else f"ghost{i}@example.com"
                    started = time.perf_counter()
                    response = await client.post(FORGOT, json={"email": email})
                    timings[kind].append(time.perf_counter() - started)
                    assert response.status_code == 202
                    bodies.add(response.text)
        known, unknown = (statistics.median(timings[k][4:]) for k in ("known", "unknown"))
        assert len(bodies) == 1
        assert abs(known - unknown) / max(known, unknown) < 0.25, (known, unknown)


class TestResetPassword:
    async def test_reset_ends_every_session_in_both_services(
        self, auth_client, users_client, user, login, smtp_server
    ):
        first, second = await login(user["username"]), await login(user["username"])
        token = await reset_link(auth_client, smtp_server, user["email"])

        response = await auth_client.post(
            RESET, json={"token": token, "new_password": NEW_PASSWORD}
        )
        assert response.status_code == 204, response.text

        for pair in (first, second):
            refreshed = await auth_client.post(
                "/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}
            )
            assert refreshed.status_code == 401
            assert (
                await auth_client.get("/api/v1/auth/sessions", headers=bearer(pair))
            ).status_code == 401
            assert (
                await users_client.get("/api/v1/users/me", headers=bearer(pair))
            ).status_code == 401
        old = await auth_client.post(
            "/api/v1/auth/login", json={"username": user["username"], "password": PASSWORD}
        )
        assert old.status_code == 401
        fresh = await login(user["username"], NEW_PASSWORD)
        me = await users_client.get("/api/v1/users/me", headers=bearer(fresh))
        assert me.status_code == 200
        assert me.json()["email_verified"] is True  # the link proved the address
        notice = await smtp_server.mail_to(user["email"], "Your password was changed")
        assert "reset" in notice.body()

    async def test_a_spent_token_is_refused(self, auth_client, user, smtp_server):
        token = await reset_link(auth_client, smtp_server, user["email"])
        body = {"token": token, "new_password": NEW_PASSWORD}
        assert (await auth_client.post(RESET, json=body)).status_code == 204
        again = await auth_client.post(RESET, json={**body, "new_password": "another-trombone-9"})
        assert again.status_code == 400
        assert again.json()["code"] == "reset_token_used"
        assert again.headers["content-type"] == "application/problem+json"

    async def test_an_expired_token_is_refused(
        self, auth_client, user, smtp_server, db_engine: AsyncEngine
    ):
        token = await reset_link(auth_client, smtp_server, user["email"])
        async with db_engine.begin() as conn:
            await conn.execute(
                text("UPDATE account_token SET expires_at = now() - interval '1 second'")
            )
        response = await auth_client.post(
            RESET, json={"token": token, "new_password": NEW_PASSWORD}
        )
        assert response.status_code == 400
        assert response.json()["code"] == "reset_token_expired"

    async def test_the_link_lives_thirty_minutes_by_default(
        self, auth_client, user, smtp_server, db_engine: AsyncEngine
    ):
        await reset_link(auth_client, smtp_server, user["email"])
        async with db_engine.connect() as conn:
            lifetime = (
                await conn.execute(
                    text(
                        "SELECT extract(epoch FROM expires_at - created_at) FROM account_token "
                        "WHERE purpose = 'reset'"
                    )
                )
            ).scalar_one()
        assert 1790 <= float(lifetime) <= 1810

    async def test_a_newer_link_voids_the_older(self, auth_client, user, smtp_server, db_engine):
        older = await reset_link(auth_client, smtp_server, user["email"])
        # Past TESSERA_PASSWORD_RESET_MIN_INTERVAL_SECONDS, which keeps a younger one alive.
        async with db_engine.begin() as conn:
            await conn.execute(
                text("UPDATE account_token SET created_at = created_at - interval '10 minutes'")
            )
        newer = await reset_link(auth_client, smtp_server, user["email"])
        response = await auth_client.post(
            RESET, json={"token": older, "new_password": NEW_PASSWORD}
        )
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_reset_token"
        response = await auth_client.post(
            RESET, json={"token": newer, "new_password": NEW_PASSWORD}
        )
        assert response.status_code == 204

    async def test_a_password_change_voids_the_link(
        self, auth_client, user, auth_headers, smtp_server
    ):
        token = await reset_link(auth_client, smtp_server, user["email"])
        changed = await auth_client.post(
            "/api/v1/auth/password",
            json={"current_password": PASSWORD, "new_password": "changed-tuba-31"},
            headers=auth_headers,
        )
        assert changed.status_code == 204
        response = await auth_client.post(
            RESET, json={"token": token, "new_password": NEW_PASSWORD}
        )
        assert response.json()["code"] == "invalid_reset_token"

    @pytest.mark.parametrize("token", ["", "x", "a" * 43, "not a token at all!"])
    async def test_a_bad_token_is_refused(self, auth_client, token):
        response = await auth_client.post(
            RESET, json={"token": token, "new_password": NEW_PASSWORD}
        )
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_reset_token"

    async def test_the_password_policy_applies_and_keeps_the_token(
        self, auth_client, user, smtp_server
    ):
        token = await reset_link(auth_client, smtp_server, user["email"])
        weak = await auth_client.post(RESET, json={"token": token, "new_password": "12345678"})
        assert weak.status_code == 422
        assert weak.json()["errors"][0]["field"] == "new_password"
        ok = await auth_client.post(RESET, json={"token": token, "new_password": NEW_PASSWORD})
        assert ok.status_code == 204


class TestEmailVerification:
    async def test_registration_mails_a_link_that_verifies(
        self, auth_client, users_client, user, login, smtp_server
    ):
        assert user["email_verified"] is False
        unverified = await login(user["username"])
        assert token_claims(unverified["access_token"])["email_verified"] is False
        mail = await smtp_server.mail_to(user["email"], VERIFY_SUBJECT)
        token = link_token(mail, "/verify-email")
        assert (await auth_client.post(VERIFY, json={"token": token})).status_code == 204
        pair = await login(user["username"])
        me = await users_client.get("/api/v1/users/me", headers=bearer(pair))
        assert me.json()["email_verified"] is True
        assert token_claims(pair["access_token"])["email_verified"] is True

    async def test_a_spent_or_bad_token_is_refused(self, auth_client, user, smtp_server):
        token = link_token(
            await smtp_server.mail_to(user["email"], VERIFY_SUBJECT), "/verify-email"
        )
        assert (await auth_client.post(VERIFY, json={"token": token})).status_code == 204
        again = await auth_client.post(VERIFY, json={"token": token})
        assert (again.status_code, again.json()["code"]) == (400, "verification_token_used")
        bad = await auth_client.post(VERIFY, json={"token": "nope"})
        assert (bad.status_code, bad.json()["code"]) == (400, "invalid_verification_token")

    async def test_an_expired_token_is_refused(
        self, auth_client, user, smtp_server, db_engine: AsyncEngine
    ):
        token = link_token(
            await smtp_server.mail_to(user["email"], VERIFY_SUBJECT), "/verify-email"
        )
        async with db_engine.begin() as conn:
            await conn.execute(text("UPDATE account_token SET expires_at = now() - interval '1 s'"))
        response = await auth_client.post(VERIFY, json={"token": token})
        assert (response.status_code, response.json()["code"]) == (
            400,
            "verification_token_expired",
        )

    async def test_resend_mails_a_new_link_and_voids_the_old(
        self, auth_client, user, auth_headers, smtp_server
    ):
        first = link_token(
            await smtp_server.mail_to(user["email"], VERIFY_SUBJECT), "/verify-email"
        )
        response = await auth_client.post(RESEND, headers=auth_headers)
        assert response.status_code == 202
        mails = await smtp_server.wait_for(2, where=lambda m: m.subject == VERIFY_SUBJECT)
        second = link_token(mails[-1], "/verify-email")
        assert second != first
        old = await auth_client.post(VERIFY, json={"token": first})
        assert old.json()["code"] == "invalid_verification_token"
        assert (await auth_client.post(VERIFY, json={"token": second})).status_code == 204
        done = await auth_client.post(RESEND, headers=auth_headers)
        assert (done.status_code, done.json()["code"]) == (409, "email_already_verified")

    async def test_resend_is_rate_limited(self, auth_client, user, auth_headers):
        answers = [
            (await auth_client.post(RESEND, headers=auth_headers)).status_code for _ in range(4)
        ]
        assert answers == [202, 202, 202, 429]

    async def test_resend_needs_a_token(self, auth_client):
        response = await auth_client.post(RESEND)
        assert response.status_code == 401

    async def test_required_verification_refuses_login_until_verified(
        self, make_settings, smtp_server
    ):
        from tessera_auth.app import create_app

        app = create_app(make_settings(**mail_settings(smtp_server, require_verified_email=True)))
        async with running(app) as client:
            body = {"username": "carol", "email": "carol@example.com", "password": PASSWORD}
            assert (await client.post("/api/v1/auth/register", json=body)).status_code == 201
            credentials = {"username": "carol", "password": PASSWORD}
            refused = await client.post("/api/v1/auth/login", json=credentials)
            assert (refused.status_code, refused.json()["code"]) == (403, "email_not_verified")
            wrong = await client.post(
                "/api/v1/auth/login", json={"username": "carol", "password": "wrong-password-1"}
            )
            assert wrong.json()["code"] == "invalid_credentials"  # the password comes first
            oauth = await client.post(
                "/api/v1/auth/token", data={"grant_type": "password", **credentials}
            )
            assert (oauth.status_code, oauth.json()["error"]) == (400, "invalid_grant")
            mail = await smtp_server.mail_to("carol@example.com", VERIFY_SUBJECT)
            verified = await client.post(VERIFY, json={"token": link_token(mail, "/verify-email")})
            assert verified.status_code == 204
            assert (await client.post("/api/v1/auth/login", json=credentials)).status_code == 200

    async def test_an_email_change_unverifies_and_tells_the_old_address(
        self, auth_client, users_client, user, auth_headers, smtp_server
    ):
        token = link_token(
            await smtp_server.mail_to(user["email"], VERIFY_SUBJECT), "/verify-email"
        )
        assert (await auth_client.post(VERIFY, json={"token": token})).status_code == 204
        changed = await users_client.patch(
            "/api/v1/users/me",
            json={"email": "alice.new@example.com", "current_password": PASSWORD},
            headers=auth_headers,
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["email_verified"] is False
        notice = await smtp_server.mail_to(user["email"], "Your email address was changed")
        assert "alice.new@example.com" in notice.body()
        mail = await smtp_server.mail_to("alice.new@example.com", VERIFY_SUBJECT)
        assert (
            await auth_client.post(VERIFY, json={"token": link_token(mail, "/verify-email")})
        ).status_code == 204

    async def test_a_link_to_an_old_address_is_void(
        self, auth_client, users_client, user, auth_headers, smtp_server
    ):
        old_link = await reset_link(auth_client, smtp_server, user["email"])
        changed = await users_client.patch(
            "/api/v1/users/me",
            json={"email": "alice.moved@example.com", "current_password": PASSWORD},
            headers=auth_headers,
        )
        assert changed.status_code == 200
        response = await auth_client.post(
            RESET, json={"token": old_link, "new_password": NEW_PASSWORD}
        )
        assert response.json()["code"] == "invalid_reset_token"


class TestDevMail:
    async def test_dev_shows_caught_mail(self, make_settings, smtp_server):
        from tessera_auth.app import create_app

        settings = make_settings(
            **mail_settings(smtp_server), env="dev", dev_mail_dir=smtp_server.directory
        )
        async with running(create_app(settings)) as client:
            body = {"username": "dave", "email": "dave@example.com", "password": PASSWORD}
            assert (await client.post("/api/v1/auth/register", json=body)).status_code == 201
            await smtp_server.mail_to("dave@example.com", VERIFY_SUBJECT)
            listed = await client.get("/api/v1/auth/dev/mail", params={"format": "json"})
            assert [(m["to"], m["subject"]) for m in listed.json()] == [
                ("dave@example.com", VERIFY_SUBJECT)
            ]
            page = await client.get("/api/v1/auth/dev/mail")
            assert page.status_code == 200
            assert "/verify-email?token=" in page.text
            assert "default-src 'none'" in page.headers["content-security-policy"]

    async def test_not_served_outside_dev(self, auth_client):
        assert (await auth_client.get("/api/v1/auth/dev/mail")).status_code == 404

    def test_refused_outside_dev(self, make_settings, tmp_path):
        from tessera_core.settings import SettingsError

        with pytest.raises(SettingsError, match="TESSERA_DEV_MAIL_DIR"):
            make_settings(dev_mail_dir=tmp_path).require_production_safe()
