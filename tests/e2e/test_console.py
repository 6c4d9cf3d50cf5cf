"""The admin console in a real browser (headless Chromium) against the e2e stack: the page
comes through nginx from the users service, and every click is a real API call.

Set TESSERA_SCREENSHOTS=<directory> to also save the screenshots shown in README.md and
docs/console.md (test_screenshots; run it alone, on a fresh stack, for tidy data)."""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyotp
import pytest
from cryptography.hazmat.primitives import serialization
from joserfc.jwk import ECKey
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.common.virtual_authenticator import Credential

from tests.e2e.accounts import PASSWORD, log_in, register
from tests.e2e.browser import DESKTOP, STRICT_CSP, ConsolePage, add_passkey_device, browser_errors
from tests.e2e.stack import (
    Gateway,
    Service,
    Stack,
    run_sql,
    service_env,
    start_gateway,
    start_service,
    wait_http,
)
from tests.fixtures.apps import bearer
from tests.fixtures.servers import free_port
from tests.fixtures.webauthn import SoftAuthenticator

pytestmark = pytest.mark.e2e


@pytest.fixture
def console(driver: Chrome, stack: Stack) -> Iterator[ConsolePage]:
    driver.set_window_size(*DESKTOP)
    driver.get_log("browser")  # start each test with an empty console log
    yield ConsolePage(driver, stack.gateway.url)
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def make_admin(stack: Stack, client: httpx.Client) -> str:
    username = register(client, "admin")
    run_sql(stack, 'UPDATE "user" SET is_admin = true WHERE username = :u', u=username)
    return username


@pytest.fixture(scope="module")
def admin(stack: Stack) -> dict:
    """An administrator: username, id and an API token pair of their own."""
    with httpx.Client(base_url=stack.gateway.url, timeout=30) as client:
        username = make_admin(stack, client)
        tokens = log_in(client, username)
        me = client.get("/api/v1/users/me", headers=bearer(tokens)).json()
    return {"username": username, "id": me["id"], "tokens": tokens}


def user_id(client: httpx.Client, username: str) -> str:
    tokens = log_in(client, username)
    return str(client.get("/api/v1/users/me", headers=bearer(tokens)).json()["id"])


def as_admin(client: httpx.Client, admin: dict, method: str, path: str, **kwargs) -> httpx.Response:
    return client.request(method, path, headers=bearer(admin["tokens"]), **kwargs)


def session_ids(client: httpx.Client, tokens: dict) -> set[str]:
    response = client.get("/api/v1/auth/sessions", headers=bearer(tokens))
    assert response.status_code == 200, response.text
    return {s["id"] for s in response.json()}


def refused_everywhere(client: httpx.Client, tokens: dict) -> bool:
    verify = client.get("/api/v1/auth/verify", headers=bearer(tokens))
    me = client.get("/api/v1/users/me", headers=bearer(tokens))
    return verify.status_code == 401 and me.status_code == 401


class TestSignIn:
    def test_a_non_admin_is_refused_and_their_session_revoked(
        self, console: ConsolePage, gateway_client: httpx.Client
    ):
        username = register(gateway_client, "cons")
        own = log_in(gateway_client, username)
        before = session_ids(gateway_client, own)
        console.open()
        console.sign_in(username, PASSWORD)
        console.text_in("#alert", "not an administrator")
        assert console.all("#users-view") == []
        assert console.find("#sign-in").is_displayed()
        assert console.find("#sign-out").is_displayed() is False
        # The console signed them out again: no session of theirs is left but the test's.
        assert session_ids(gateway_client, own) == before

    def test_wrong_password_is_shown(self, console: ConsolePage, admin: dict):
        console.open()
        console.sign_in(admin["username"], "not-the-password-at-all")
        console.text_in("#alert", "Wrong username or password")
        assert console.all("#users-view") == []

    def test_keyboard_only_sign_in_with_visible_focus(self, console: ConsolePage, admin: dict):
        console.open()
        active = console.driver.switch_to.active_element
        assert active.get_attribute("id") == "username", "the form starts focused"
        active.send_keys(admin["username"], Keys.TAB)
        password = console.driver.switch_to.active_element
        assert password.get_attribute("id") == "password"
        outline = console.script(
            "const s = getComputedStyle(document.activeElement); return [s.outlineStyle, s.outlineWidth]"
        )
        assert outline[0] == "solid", outline
        assert outline[1] != "0px", outline
        password.send_keys(PASSWORD, Keys.ENTER)
        console.visible("#users-view")
        # Every part of the list is reachable by Tab: on to a user's link, Enter opens it.
        for _ in range(40):
            console.driver.switch_to.active_element.send_keys(Keys.TAB)
            if "user-link" in (
                console.driver.switch_to.active_element.get_attribute("class") or ""
            ):
                break
        else:
            pytest.fail("Tab never reached a user's link")
        console.driver.switch_to.active_element.send_keys(Keys.ENTER)
        console.visible("#user-view")
        assert console.driver.switch_to.active_element.get_attribute("id") == "view-title"

    def test_sign_out_revokes_the_session_and_nothing_is_stored(
        self, console: ConsolePage, admin: dict, gateway_client: httpx.Client
    ):
        before = session_ids(gateway_client, admin["tokens"])
        console.sign_in_as_admin(admin["username"], PASSWORD)
        (opened,) = session_ids(gateway_client, admin["tokens"]) - before
        stored = console.script(
            "return [localStorage.length, sessionStorage.length, document.cookie]"
        )
        assert stored == [0, 0, ""], "the tokens stay in memory only"
        assert console.find("#whoami").text == f"Signed in as {admin['username']}"
        console.find("#sign-out").click()
        console.visible("#sign-in")
        console.text_in("#status", "Signed out")
        assert opened not in session_ids(gateway_client, admin["tokens"])
        # A reload finds nothing to resume: the tokens were never written anywhere.
        console.sign_in_as_admin(admin["username"], PASSWORD)
        console.driver.refresh()
        console.visible("#sign-in")
        assert console.all("#users-view") == []


@pytest.fixture(scope="module")
def seeded(stack: Stack) -> dict:
    """25 users sharing a prefix no one else has; one of them an administrator."""
    prefix = f"pg{uuid.uuid4().hex[:6]}"
    with httpx.Client(base_url=stack.gateway.url, timeout=30) as client:
        names = [register(client, prefix) for _ in range(25)]
    run_sql(stack, 'UPDATE "user" SET is_admin = true WHERE username = :u', u=names[7])
    return {"prefix": prefix, "names": names, "admin": names[7]}


class TestUsersList:
    def test_search_pages_filters_and_orders(self, console: ConsolePage, admin: dict, seeded):
        console.sign_in_as_admin(admin["username"], PASSWORD)
        prefix, names = seeded["prefix"], seeded["names"]

        console.apply(search=prefix, limit="10")
        first = console.usernames()
        assert len(first) == 10
        assert all(name.startswith(prefix) for name in first)
        assert f"search={prefix}" in console.driver.current_url

        console.follow("#next-page")
        second = console.usernames()
        assert len(second) == 10
        assert not set(first) & set(second)
        console.follow("#next-page")
        third = console.usernames()
        assert len(third) == 5
        assert console.find("#last-page").is_displayed()
        assert set(first) | set(second) | set(third) == set(names)
        console.follow("#first-page")
        assert console.usernames() == first

        console.apply(is_admin="true")
        assert console.usernames() == [seeded["admin"]]

        console.apply(is_admin="", ordering="-username")
        assert console.usernames() == sorted(names, key=str.lower, reverse=True)[:10]
        console.apply(ordering="username")
        assert console.usernames() == sorted(names, key=str.lower)[:10]

        console.apply(search=f"{prefix}-nobody")
        console.visible("#no-users")

    def test_a_user_is_opened_from_the_list(self, console: ConsolePage, admin: dict, seeded):
        console.sign_in_as_admin(admin["username"], PASSWORD)
        console.apply(search=seeded["admin"])
        console.follow(".user-link")
        console.visible("#user-view")
        assert console.find("#view-title").text.startswith(seeded["admin"])
        console.follow("#back-to-list")
        assert console.usernames() == [seeded["admin"]]


class TestUserPage:
    def test_edit_and_the_api_errors_next_to_their_fields(
        self, console: ConsolePage, admin: dict, gateway_client: httpx.Client
    ):
        target = register(gateway_client, "cons")
        other = register(gateway_client, "cons")
        target_id = user_id(gateway_client, target)
        console.sign_in_as_admin(admin["username"], PASSWORD)
        console.open_user(target_id)

        nickname = console.find("#nickname")
        nickname.clear()
        nickname.send_keys("Renamed by the console")
        console.find("#save-profile").click()
        console.text_in("#status", f"Saved {target}")
        read = as_admin(gateway_client, admin, "GET", f"/api/v1/users/{target_id}").json()
        assert read["nickname"] == "Renamed by the console"

        # 409: another account's email, with the admin's password (needed for any email change).
        email = console.find("#email")
        email.clear()
        email.send_keys(f"{other}@example.com")
        console.find("#current_password").send_keys(PASSWORD)
        console.find("#save-profile").click()
        console.visible("#email-error")
        assert "already exists" in console.find("#email-error").text
        assert console.find("#email").get_attribute("aria-invalid") == "true"
        assert "email-error" in (console.find("#email").get_attribute("aria-describedby") or "")
        assert console.driver.switch_to.active_element.get_attribute("id") == "email"

        # 422: the API's validation message, on the field it names (the password is still
        # typed in: a failed save keeps the form as it was).
        email.clear()
        email.send_keys("not-an-email")
        console.find("#save-profile").click()
        console.until(lambda _: "already exists" not in console.find("#email-error").text)
        console.visible("#email-error")
        assert console.find("#email-error").text
        nickname = console.find("#nickname")
        nickname.clear()
        nickname.send_keys("x" * 151)
        email.clear()
        email.send_keys(f"{target}@example.com")
        console.find("#save-profile").click()
        console.visible("#nickname-error")
        assert "150" in console.find("#nickname-error").text
        assert console.find("#email-error").is_displayed() is False

        # An email change without the admin's password: asked for on the password field.
        console.find("#current_password").clear()
        nickname.clear()
        nickname.send_keys("Renamed by the console")
        email.clear()
        email.send_keys(f"{target}.new@example.com")
        console.find("#save-profile").click()
        console.visible("#current_password-error")
        read = as_admin(gateway_client, admin, "GET", f"/api/v1/users/{target_id}").json()
        assert read["email"] == f"{target}@example.com"

    def test_deactivate_reactivate_promote_demote(
        self, console: ConsolePage, admin: dict, gateway_client: httpx.Client
    ):
        target = register(gateway_client, "cons")
        tokens = log_in(gateway_client, target)
        target_id = user_id(gateway_client, target)
        console.sign_in_as_admin(admin["username"], PASSWORD)
        console.open_user(target_id)

        # Cancelled: nothing changes.
        console.find("#toggle-active").click()
        assert "Deactivate" in console.find("#confirm-title").text
        console.confirm(accept=False)
        assert as_admin(gateway_client, admin, "GET", f"/api/v1/users/{target_id}").json()[
            "is_active"
        ]
        assert not refused_everywhere(gateway_client, tokens)

        console.find("#toggle-active").click()
        console.confirm()
        console.text_in("#status", "is deactivated")
        console.text_in("#fact-active", "no")
        assert refused_everywhere(gateway_client, tokens), "both services refuse the old token"
        assert not as_admin(gateway_client, admin, "GET", f"/api/v1/users/{target_id}").json()[
            "is_active"
        ]

        console.find("#toggle-active").click()
        console.confirm()
        console.text_in("#status", "is active again")
        console.text_in("#fact-active", "yes")
        assert as_admin(gateway_client, admin, "GET", f"/api/v1/users/{target_id}").json()[
            "is_active"
        ]
        assert log_in(gateway_client, target)["access_token"]

        console.find("#toggle-admin").click()
        assert "administrator" in console.find("#confirm-title").text
        console.confirm()
        console.text_in("#fact-admin", "yes")
        assert as_admin(gateway_client, admin, "GET", f"/api/v1/users/{target_id}").json()[
            "is_admin"
        ]
        console.find("#toggle-admin").click()
        console.confirm()
        console.text_in("#fact-admin", "no")
        assert not as_admin(gateway_client, admin, "GET", f"/api/v1/users/{target_id}").json()[
            "is_admin"
        ]

    def test_an_admin_cannot_lock_themselves_out(self, console: ConsolePage, admin: dict):
        console.sign_in_as_admin(admin["username"], PASSWORD)
        console.open_user(admin["id"])
        assert not console.find("#toggle-active").is_enabled()
        assert not console.find("#toggle-admin").is_enabled()

    def test_sessions_listed_ended_one_by_one_and_all(
        self, console: ConsolePage, admin: dict, stack: Stack
    ):
        with httpx.Client(base_url=stack.gateway.url, timeout=30) as client:
            target = register(client, "cons")
            phone = client.post(
                "/api/v1/auth/login",
                json={"username": target, "password": PASSWORD},
                headers={"User-Agent": "ConsoleTest Phone/1.0"},
            ).json()
            laptop = client.post(
                "/api/v1/auth/login",
                json={"username": target, "password": PASSWORD},
                headers={"User-Agent": "ConsoleTest Laptop/2.0"},
            ).json()
            target_id = client.get("/api/v1/users/me", headers=bearer(phone)).json()["id"]
            console.sign_in_as_admin(admin["username"], PASSWORD)
            console.open_user(target_id)
            console.until(lambda _: len(console.all("[data-testid=session-row]")) == 2)
            rows = {row.text: row for row in console.all("[data-testid=session-row]")}
            listing = "\n".join(rows)
            assert "ConsoleTest Phone/1.0" in listing
            assert "ConsoleTest Laptop/2.0" in listing
            assert "127.0.0.1" in listing
            assert "never" not in listing, "last used is shown"

            (phone_row,) = [row for text, row in rows.items() if "Phone" in text]
            phone_row.find_element(By.CSS_SELECTOR, "[data-testid=end-session]").click()
            console.until(lambda _: len(console.all("[data-testid=session-row]")) == 1)
            assert "Laptop" in console.find("[data-testid=session-row]").text
            assert client.get("/api/v1/users/me", headers=bearer(phone)).status_code == 401
            assert client.get("/api/v1/users/me", headers=bearer(laptop)).status_code == 200

            console.find("#end-all-sessions").click()
            console.confirm()
            console.visible("#no-sessions")
            assert client.get("/api/v1/users/me", headers=bearer(laptop)).status_code == 401

    def test_personal_tokens_listed_and_revoked(
        self, console: ConsolePage, admin: dict, stack: Stack
    ):
        with httpx.Client(base_url=stack.gateway.url, timeout=30) as client:
            target = register(client, "cons")
            own = log_in(client, target)  # a fresh login: creation's step-up is met
            made = client.post(
                "/api/v1/auth/tokens",
                json={"name": "nightly backup", "scope": "profile:read", "expires_in_days": 5},
                headers=bearer(own),
            )
            assert made.status_code == 201, made.text
            pat = {"Authorization": f"Bearer {made.json()['token']}"}
            assert client.get("/api/v1/users/me", headers=pat).status_code == 200
            target_id = client.get("/api/v1/users/me", headers=bearer(own)).json()["id"]

            console.sign_in_as_admin(admin["username"], PASSWORD)
            console.open_user(target_id)
            row = console.visible("[data-testid=token-row]")
            assert row.get_attribute("data-token-id") == made.json()["id"]
            console.text_in("[data-testid=token-name]", "nightly backup")
            assert "profile:read" in row.text
            assert made.json()["token"] not in console.driver.page_source

            console.find("[data-testid=revoke-token]").click()
            console.confirm()
            console.visible("#no-tokens")
            console.text_in("#status", "is revoked")
            assert client.get("/api/v1/users/me", headers=pat).status_code == 401
            assert client.get("/api/v1/users/me", headers=bearer(own)).status_code == 200
            assert browser_errors(console.driver) == []


@pytest.fixture(scope="module")
def short_lived(stack: Stack) -> Iterator[Gateway]:
    """Both services and a gateway of their own on the same database, issuing access tokens
    that live 30 s (the least the settings allow): the console refreshes before every call."""
    directory = stack.directory / "short-lived"
    directory.mkdir(exist_ok=True)
    auth_port, users_port = free_port(), free_port()
    gateway = start_gateway(directory, auth_port=auth_port, users_port=users_port)
    services: list[Service] = []
    try:
        for name, port in (("auth", auth_port), ("users", users_port)):
            env = service_env(name, stack.backends, issuer=gateway.url, auth_port=auth_port)
            env["TESSERA_ACCESS_TOKEN_TTL_SECONDS"] = "30"
            services.append(start_service(name, env, directory, port=port, suffix="-short"))
        wait_http(f"{gateway.url}/admin/", proc=gateway.proc)
        yield gateway
    finally:
        for process in [*(s.proc for s in services), gateway.proc]:
            process.stop()


def client_credentials(client: httpx.Client, client_id: str, secret: str) -> httpx.Response:
    """The client credentials grant through the gateway, with ``client_secret_basic``."""
    return client.post(
        "/api/v1/auth/token",
        data={"grant_type": "client_credentials", "scope": "users:read"},
        auth=(client_id, secret),
    )


def listing_status(client: httpx.Client, access_token: str) -> int:
    return client.get("/api/v1/users", headers=bearer({"access_token": access_token})).status_code


class TestServiceAccounts:
    def test_create_use_rotate_delete_deactivate_and_the_users_list(
        self, console: ConsolePage, admin: dict, gateway_client: httpx.Client
    ):
        console.sign_in_as_admin(admin["username"], PASSWORD)
        console.follow("#nav-service-accounts")
        console.visible("#service-accounts-view")
        assert console.driver.switch_to.active_element.get_attribute("id") == "view-title"
        assert console.find("#nav-service-accounts").get_attribute("aria-current") == "page"

        # Create: the first secret is shown once, beside the client id.
        name = f"sync-{uuid.uuid4().hex[:8]}"
        console.find("#sa_name").send_keys(name)
        (read,) = [
            box
            for box in console.all("[data-testid=sa-scope]")
            if box.get_attribute("value") == "users:read"
        ]
        read.click()
        console.find("#create-service-account").click()
        console.visible("#new-secret")
        console.text_in("#new-secret-warning", "not shown again")
        first = console.find("#new-secret-value").get_attribute("value") or ""
        assert re.fullmatch(r"tsr_sas_[0-9A-Za-z]{36}", first), first
        assert console.find("#new-secret-value").get_attribute("readonly") is not None
        client_id = console.find("[data-testid=shown-client-id]").text
        assert re.fullmatch(r"sa-[0-9a-f]{24}", client_id), client_id
        console.until(lambda _: self.row_of(console, name) is not None)
        row = self.row_of(console, name)
        assert row is not None
        cells = [c.text for c in row.find_elements(By.CSS_SELECTOR, "th, td")]
        assert cells[1:] == [client_id, "users:read", cells[3], "active", "1"], cells

        granted = client_credentials(gateway_client, client_id, first)
        assert granted.status_code == 200, granted.text
        assert granted.json()["scope"] == "users:read"
        first_token = granted.json()["access_token"]
        assert listing_status(gateway_client, first_token) == 200

        # Shown once: gone with "I have copied it", and nowhere on the account's page.
        console.find("#new-secret-done").click()
        console.until(lambda _: console.all("#new-secret") == [])
        assert first not in console.driver.page_source
        console.follow(
            f"[data-testid=sa-row][data-account-id='{row.get_attribute('data-account-id')}'] .sa-link"
        )
        console.visible("#service-account-view")
        console.text_in("#sa-client-id", client_id)
        assert first not in console.driver.page_source
        assert len(console.all("[data-testid=secret-row]")) == 1

        # Rotate: a second secret, shown once; a third is refused with the reason on screen.
        console.find("#new-secret-button").click()
        console.visible("#new-secret")
        second = console.find("#new-secret-value").get_attribute("value") or ""
        assert re.fullmatch(r"tsr_sas_[0-9A-Za-z]{36}", second), second
        assert second != first
        console.until(lambda _: len(console.all("[data-testid=secret-row]")) == 2)
        granted = client_credentials(gateway_client, client_id, second)
        assert granted.status_code == 200, granted.text
        second_token = granted.json()["access_token"]
        console.find("#new-secret-button").click()
        console.text_in("#alert", "Two secrets are live already")
        assert "delete one first" in console.alert()
        assert "delete one first" in console.find("#secret-limit").text
        assert len(console.all("[data-testid=secret-row]")) == 2

        # Delete the first (the oldest row): its token is refused at once, the second's not.
        oldest = console.all("[data-testid=secret-row]")[0]
        oldest.find_element(By.CSS_SELECTOR, "[data-testid=delete-secret]").click()
        console.confirm()
        console.text_in("#status", "is deleted")
        assert len(console.all("[data-testid=secret-row]")) == 1
        assert listing_status(gateway_client, first_token) == 401
        assert listing_status(gateway_client, second_token) == 200
        assert client_credentials(gateway_client, client_id, first).status_code == 401

        # Keys: a private key is refused with the API's reason under the field.
        console.find("#sa_jwks").send_keys(
            '{"keys": [{"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQ", "kid": "sym"}]}'
        )
        console.find("#register-keys").click()
        console.visible("#sa_jwks-error")
        assert console.find("#sa_jwks-error").text.strip()
        assert console.find("#sa_jwks").get_attribute("aria-invalid") == "true"
        assert console.find("#sa-keys").text == "none"
        public = ECKey.generate_key("P-256", parameters={"kid": "e2e"}, private=True)
        jwks = console.find("#sa_jwks")
        jwks.clear()
        jwks.send_keys(json.dumps({"keys": [public.as_dict(private=False)]}))
        console.find("#register-keys").click()
        console.text_in("#status", "are registered")
        assert console.find("#sa-keys").text == "1 key: e2e"

        # Deactivate: the second secret's token is refused too; every action is disabled.
        console.find("#deactivate-service-account").click()
        console.confirm()
        console.visible("#deactivated-badge")
        console.text_in("#sa-status", "deactivated")
        assert listing_status(gateway_client, second_token) == 401
        assert client_credentials(gateway_client, client_id, second).status_code == 401
        for control in ("#new-secret-button", "#deactivate-service-account", "#register-keys"):
            assert not console.find(control).is_enabled(), control
        # Deactivation revoked the secrets' sessions: no secret is live any more.
        assert console.all("[data-testid=secret-row]") == []
        assert console.find("#no-secrets").is_displayed()

        # The users list marks it "service" and filters people from service accounts.
        console.follow("#nav-users")
        console.apply(search=client_id, kind="service")
        assert console.usernames() == [client_id]
        assert console.find("[data-testid=user-row] [data-testid=service-badge]").text == "service"
        console.apply(kind="person")
        console.visible("#no-users")
        console.apply(search=admin["username"], kind="")
        assert console.usernames() == [admin["username"]]
        assert console.all("[data-testid=service-badge]") == []
        assert browser_errors(console.driver) == []

    @staticmethod
    def row_of(console: ConsolePage, name: str):
        for row in console.all("[data-testid=sa-row]"):
            if row.find_element(By.CSS_SELECTOR, ".sa-link").text == name:
                return row
        return None


class TestRefresh:
    def test_short_tokens_are_refreshed_and_a_dead_session_signs_out(
        self, driver: Chrome, short_lived: Gateway, admin: dict
    ):
        console = ConsolePage(driver, short_lived.url)
        console.sign_in_as_admin(admin["username"], PASSWORD)
        console.open_user(admin["id"])
        console.visible("#sessions-table")
        console.follow("#back-to-list")
        refreshes = console.script(
            "return performance.getEntriesByType('resource')"
            ".filter(e => e.name.endsWith('/api/v1/auth/refresh')).length"
        )
        assert refreshes >= 3, "every call found its token close to expiry and refreshed it"

        # Five calls at once, each needing a refresh: one refresh serves them all (a refresh
        # token presented twice would revoke the session, and the calls would fail).
        answers = driver.execute_async_script(
            """const done = arguments[arguments.length - 1];
               import('/admin/shared/api.js')
                 .then(api => Promise.all([1, 2, 3, 4, 5].map(() => api.call('GET', '/api/v1/users/me'))))
                 .then(users => done(users.map(u => u.username)), error => done(String(error)));"""
        )
        assert answers == [admin["username"]] * 5
        assert console.find("#whoami").is_displayed()

        # Every session of the admin ended elsewhere: the console's next refresh is refused,
        # and it returns to the sign-in form.
        with httpx.Client(base_url=short_lived.url, timeout=30) as client:
            tokens = log_in(client, admin["username"])
            ended = client.post("/api/v1/auth/logout-all", headers=bearer(tokens))
            assert ended.status_code == 204
        console.script("location.hash = '#/users?ordering=-username'")
        console.visible("#sign-in")
        console.text_in("#status", "Your session has ended")
        assert console.find("#sign-out").is_displayed() is False


class TestServedSafely:
    @pytest.mark.parametrize(
        "path", ["/admin/", "/admin/app.js", "/admin/views/user.js", "/admin/shared/pages.css"]
    )
    def test_policy_headers_through_the_gateway(self, gateway_client: httpx.Client, path: str):
        response = gateway_client.get(path)
        assert response.status_code == 200
        assert response.headers["content-security-policy"] == STRICT_CSP
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        if path.endswith(".js"):
            assert response.headers["content-type"].startswith("text/javascript")

    def test_the_gateway_redirects_and_links_the_console(self, gateway_client: httpx.Client):
        response = gateway_client.get("/admin")
        assert response.status_code == 301
        assert response.headers["location"] == "/admin/"
        assert 'href="/admin/"' in gateway_client.get("/").text
        missing = gateway_client.get("/admin/missing.js")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"

    def test_no_policy_violation_and_no_request_elsewhere(
        self, console: ConsolePage, admin: dict, stack: Stack
    ):
        console.sign_in_as_admin(admin["username"], PASSWORD)
        console.open_user(admin["id"])
        console.visible("#sessions")
        entries = console.script(
            "return performance.getEntries().map(e => e.name).filter(n => /^[a-z]+:/.test(n))"
        )
        assert any("/admin/views/user.js" in name for name in entries)
        assert any("/api/v1/users/" in name for name in entries)
        for name in entries:
            assert name.startswith(f"{stack.gateway.url}/"), name
        log = console.driver.get_log("browser")
        violations = [
            e for e in log if re.search(r"Content.Security.Policy|Refused to", e["message"], re.I)
        ]
        assert violations == []


class TestPhoneWidth:
    def test_no_sideways_scrolling_and_every_control_on_screen(
        self, console: ConsolePage, admin: dict
    ):
        console.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": 375, "height": 740, "deviceScaleFactor": 2, "mobile": True},
        )
        console.sign_in_as_admin(admin["username"], PASSWORD)
        assert console.script("return innerWidth") == 375

        def fits() -> None:
            width = console.script("return [document.documentElement.scrollWidth, innerWidth]")
            assert width[0] <= width[1], width
            offscreen = console.script(
                """return [...document.querySelectorAll('#view a, #view button, #view input, #view select, #view textarea, #nav a, #sign-out')]
                     .filter(e => e.offsetParent !== null)
                     .filter(e => { const r = e.getBoundingClientRect(); return r.left < 0 || r.right > innerWidth; })
                     .map(e => e.id || e.textContent)"""
            )
            assert offscreen == []

        fits()
        console.open_user(admin["id"])
        console.visible("#sessions")
        fits()
        with httpx.Client(base_url=console.origin, timeout=30) as client:
            # A session of its own: other tests of the module end the admin fixture's.
            created = client.post(
                "/api/v1/auth/admin/service-accounts",
                json={"name": "phone-width", "scope": "users:read"},
                headers=bearer(log_in(client, admin["username"])),
            )
        assert created.status_code == 201, created.text
        console.go("#/service-accounts")
        console.visible("#service-accounts-table")
        fits()
        console.go(f"#/service-accounts/{created.json()['id']}")
        console.visible("#secrets-table")
        fits()


def test_screenshots(console: ConsolePage, stack: Stack, tmp_path: Path):
    """The README's pictures, with a few realistic accounts: written to
    ``$TESSERA_SCREENSHOTS`` (run it alone on a fresh stack for docs/screenshots), else to a
    temporary directory, so every run proves the pages still render."""
    directory = Path(os.environ.get("TESSERA_SCREENSHOTS") or tmp_path)
    directory.mkdir(parents=True, exist_ok=True)
    people = [
        ("amelia.clarke", "Amelia", "Amelia", "Clarke"),
        ("bruno.santos", "Bruno", "Bruno", "Santos"),
        ("chen.wei", "", "Wei", "Chen"),
        ("dana.okafor", "Dee", "Dana", "Okafor"),
        ("elias.berg", "", "Elias", "Berg"),
        ("fatima.haddad", "Fatima", "Fatima", "Haddad"),
        ("gustav.lind", "Gus", "Gustav", "Lind"),
        ("hana.sato", "", "Hana", "Sato"),
        ("ines.moreau", "Inès", "Inès", "Moreau"),
        ("jonas.weber", "", "Jonas", "Weber"),
    ]
    phone_agent = (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
    )
    laptop_agent = "Mozilla/5.0 (X11; Linux x86_64; rv:134.0) Gecko/20100101 Firefox/134.0"
    with httpx.Client(base_url=stack.gateway.url, timeout=30) as client:
        for username, nickname, first, last in people:
            response = client.post(
                "/api/v1/auth/register",
                json={
                    "username": username,
                    "email": f"{username}@example.org",
                    "password": PASSWORD,
                    "nickname": nickname,
                    "first_name": first,
                    "last_name": last,
                },
            )
            assert response.status_code == 201, response.text  # names no other test uses
        # Only these accounts: the stack and its other users are shared with later tests.
        verified = [username for username, *_ in people if username != "hana.sato"]
        run_sql(
            stack,
            'UPDATE "user" SET email_verified = true WHERE username = ANY(:names)',
            names=verified,
        )
        run_sql(stack, """UPDATE "user" SET is_admin = true WHERE username = 'amelia.clarke'""")
        run_sql(stack, """UPDATE "user" SET is_active = false WHERE username = 'elias.berg'""")
        for agent in (phone_agent, laptop_agent):
            pair = client.post(
                "/api/v1/auth/login",
                json={"username": "dana.okafor", "password": PASSWORD},
                headers={"User-Agent": agent},
            ).json()
        dana = client.get("/api/v1/users/me", headers=bearer(pair)).json()["id"]

    def whole_page(name: str) -> None:
        """A screenshot of the whole page: the window made as tall as the document."""
        outer = console.driver.get_window_size()["height"]
        chrome = outer - console.script("return innerHeight")
        height = console.script("return document.documentElement.scrollHeight")
        console.driver.set_window_size(DESKTOP[0], height + chrome)
        console.driver.save_screenshot(str(directory / name))
        console.driver.set_window_size(*DESKTOP)

    console.sign_in_as_admin("amelia.clarke", PASSWORD)
    console.apply(search="", ordering="username")
    whole_page("console-users.png")
    console.open_user(dana)
    console.until(lambda _: len(console.all("[data-testid=session-row]")) >= 2)
    whole_page("console-user.png")
    console.driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 375, "height": 740, "deviceScaleFactor": 1, "mobile": True},
    )
    console.go("#/users?ordering=username&limit=10")
    console.driver.save_screenshot(str(directory / "console-phone.png"))
    for name in ("console-users.png", "console-user.png", "console-phone.png"):
        picture = (directory / name).read_bytes()
        assert picture.startswith(b"\x89PNG"), name
        assert len(picture) > 10_000, name  # a page, not a blank window


class TestSecondFactors:
    def test_an_admin_with_totp_signs_in_with_a_code_and_removes_a_users_factors(
        self, console: ConsolePage, stack: Stack
    ):
        with httpx.Client(base_url=stack.gateway.url, timeout=30) as client:
            admin_name = make_admin(stack, client)
            admin_totp = enable_totp(client, log_in(client, admin_name))
            target = register(client, "mfa")
            target_tokens = log_in(client, target)
            enable_totp(client, target_tokens)
            target_id = client.get("/api/v1/users/me", headers=bearer(target_tokens)).json()["id"]

            console.open()
            console.sign_in(admin_name, PASSWORD)
            console.visible("#code")
            assert console.all("#users-view") == []
            console.find("#code").send_keys("000000")
            console.find("#sign-in-submit").click()
            console.text_in("#alert", "Wrong code")
            code = console.find("#code")
            code.clear()
            code.send_keys(admin_totp.at(time.time() + 30))
            console.find("#sign-in-submit").click()
            console.visible("#users-view")

            console.open_user(target_id)
            console.text_in("#factor-totp", "on")
            assert console.find("#factor-recovery-codes").text == "10"
            console.find("#remove-factors").click()
            console.confirm()
            console.text_in("#factor-totp", "off")
            assert console.find("#remove-factors").get_attribute("disabled") is not None
            # Their sessions ended, and a password alone signs them in again.
            assert client.get("/api/v1/users/me", headers=bearer(target_tokens)).status_code == 401
            assert log_in(client, target)["access_token"]

    def test_an_admin_signs_in_with_a_passkey_alone_and_as_the_second_step(
        self, driver: Chrome, stack: Stack
    ):
        with httpx.Client(base_url=stack.gateway.url, timeout=30) as client:
            admin_name = make_admin(stack, client)
            device = register_passkey(client, log_in(client, admin_name), stack)
        # The browser's authenticator holds that very passkey (its private key copied in).
        add_passkey_device(driver)
        try:
            driver.add_credential(
                Credential.create_resident_credential(
                    device.credential_id,
                    "localhost",
                    device.user_handle,
                    device.key.private_bytes(
                        serialization.Encoding.DER,
                        serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption(),
                    ),
                    0,
                )
            )
            console = ConsolePage(driver, stack.gateway.browser_url)
            console.open()
            console.find("#passkey-sign-in").click()
            console.visible("#users-view")
            assert console.find("#whoami").text == f"Signed in as {admin_name}"
            console.find("#sign-out").click()
            console.visible("#sign-in")

            console.sign_in(admin_name, PASSWORD)
            console.visible("#use-passkey").click()
            console.visible("#users-view")
            assert console.find("#whoami").text == f"Signed in as {admin_name}"
            assert driver.get_credentials()[0].sign_count == 2
        finally:
            driver.remove_virtual_authenticator()


def register_passkey(client: httpx.Client, tokens: dict, stack: Stack) -> SoftAuthenticator:
    """A passkey of the account, made by a software authenticator for the browser's origin."""
    device = SoftAuthenticator(origin=stack.gateway.browser_url)
    options = client.post(
        "/api/v1/auth/factors/passkeys/options", json={"password": PASSWORD}, headers=bearer(tokens)
    ).json()
    created = client.post(
        "/api/v1/auth/factors/passkeys",
        json={"ceremony": options["ceremony"], "credential": device.create(options["public_key"])},
        headers=bearer(tokens),
    )
    assert created.status_code == 201, created.text
    return device


def enable_totp(client: httpx.Client, tokens: dict) -> pyotp.TOTP:
    secret = client.post(
        "/api/v1/auth/factors/totp", json={"password": PASSWORD}, headers=bearer(tokens)
    ).json()["secret"]
    totp = pyotp.TOTP(secret)
    confirmed = client.post(
        "/api/v1/auth/factors/totp/confirm", json={"code": totp.now()}, headers=bearer(tokens)
    )
    assert confirmed.status_code == 200, confirmed.text
    return totp
