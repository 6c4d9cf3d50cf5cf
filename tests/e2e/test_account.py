"""The account page in a real browser (headless Chromium) against the e2e stack, with
Chromium's virtual authenticator for the passkey ceremonies. The page is loaded from
``http://localhost:<gateway port>``: WebAuthn needs the page's host to be the relying
party id, which the stack's auth service is given (``Gateway.browser_url``).

Set TESSERA_SCREENSHOTS=<directory> to also save the screenshots of docs/account.md
(test_screenshots)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pyotp
import pytest
from selenium.webdriver import Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement

from tests.e2e.accounts import PASSWORD, log_in, register
from tests.e2e.browser import (
    DESKTOP,
    STRICT_CSP,
    AccountPage,
    add_passkey_device,
    browser_errors,
    dark_fraction,
)
from tests.e2e.stack import Stack, run_sql
from tests.fixtures.apps import bearer

pytestmark = pytest.mark.e2e


@pytest.fixture
def page(driver: Chrome, stack: Stack) -> Iterator[AccountPage]:
    """The page with an empty console log and a fresh passkey device of its own, so the
    device's only passkeys are the ones this test makes."""
    driver.set_window_size(*DESKTOP)
    driver.get_log("browser")
    add_passkey_device(driver)
    try:
        yield AccountPage(driver, stack.gateway.browser_url)
    finally:
        driver.remove_virtual_authenticator()


@pytest.fixture
def client(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.gateway.url, timeout=30) as client:
        yield client


def signed_in(page: AccountPage, client: httpx.Client, prefix: str = "acct") -> str:
    """A new account, signed in on the page with its password."""
    username = register(client, prefix)
    page.open()
    page.sign_in(username, PASSWORD)
    page.signed_in_as(username)
    return username


def enroll_totp(page: AccountPage) -> tuple[pyotp.TOTP, list[str]]:
    """Turn the authenticator app on from the page: its secret and the recovery codes shown."""
    page.fill(totp_password=PASSWORD)
    page.find("#totp-start").click()
    page.visible("#totp-qr svg")
    totp = pyotp.TOTP(page.find("#totp-secret").text)
    assert f"secret={totp.secret}" in page.find("#totp-uri").text
    page.fill(totp_code=totp.now())
    page.find("#totp-confirm").click()
    page.visible("#recovery-codes")
    codes = [item.text for item in page.all("#recovery-codes li")]
    return totp, codes


def add_passkey(page: AccountPage, name: str) -> None:
    page.fill(passkey_name=name, passkey_password=PASSWORD)
    page.find("#add-passkey").click()
    page.until(lambda _: name in [cell.text for cell in page.all("[data-testid=passkey-name]")])


def live_sessions(stack: Stack, username: str) -> int:
    ((count,),) = run_sql(
        stack,
        'SELECT count(*) FROM login_session s JOIN "user" u ON u.id = s.user_id'
        " WHERE u.username = :u AND s.revoked_at IS NULL AND s.expires_at > now()",
        u=username,
    )
    return int(count)


def api_get(client: httpx.Client, username: str, path: str) -> httpx.Response:
    """``path`` read with a token of the account's own; works only while it has no factor."""
    return client.get(path, headers=bearer(log_in(client, username)))


class TestSignIn:
    def test_a_password_signs_in_and_only_memory_holds_the_tokens(
        self, page: AccountPage, client: httpx.Client
    ):
        username = register(client, "acct")
        page.open()
        page.sign_in(username, "not-the-password-at-all")
        page.text_in("#alert", "Wrong username or password")
        assert page.all("#account-view") == []
        page.find("#password").clear()
        page.sign_in("", PASSWORD)
        page.signed_in_as(username)
        assert page.find("#email").get_attribute("value") == f"{username}@example.com"
        page.until(lambda _: page.all("[data-testid=session-row][data-current=true]"))
        stored = page.script("return [localStorage.length, sessionStorage.length, document.cookie]")
        assert stored == [0, 0, ""]
        page.sign_out()
        page.driver.refresh()
        page.visible("#sign-in")
        assert page.all("#account-view") == []
        assert browser_errors(page.driver) == []


class TestOnAPhone:
    def test_no_sideways_scrolling_and_every_control_on_screen(
        self, page: AccountPage, client: httpx.Client
    ):
        page.driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride",
            {"width": 375, "height": 740, "deviceScaleFactor": 2, "mobile": True},
        )
        try:
            signed_in(page, client)
            page.until(lambda _: page.all("[data-testid=session-row]"))
            assert page.script("return innerWidth") == 375

            def fits() -> None:
                width = page.script("return [document.documentElement.scrollWidth, innerWidth]")
                assert width[0] <= width[1], width
                offscreen = page.script(
                    """return [...document.querySelectorAll('#view a, #view button, #view input, #sign-out')]
                         .filter(e => e.offsetParent !== null)
                         .filter(e => { const r = e.getBoundingClientRect(); return r.left < 0 || r.right > innerWidth; })
                         .map(e => e.id || e.textContent)"""
                )
                assert offscreen == []

            fits()
            # Not vacuous: the forms' fields and buttons were all on the page and measured.
            assert page.script("return document.querySelectorAll('#view input').length") >= 8
            # A personal access token listed and its 44 characters shown once fit too.
            create_token(page, "phone")
            token_shown_once(page)
            page.visible("[data-testid=token-row]")
            fits()
            assert browser_errors(page.driver) == []
        finally:
            page.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


class TestTotp:
    def test_enroll_then_sign_in_with_a_code_and_a_recovery_code(
        self, page: AccountPage, client: httpx.Client
    ):
        username = signed_in(page, client)
        page.fill(totp_password="wrong-password-here")
        page.find("#totp-start").click()
        page.visible("#totp_password-error")
        assert page.find("#totp_password").get_attribute("aria-invalid") == "true"

        page.fill(totp_password=PASSWORD)
        page.find("#totp-start").click()
        qr = page.visible("#totp-qr svg")
        # The SVG is drawn under the page's policy: a box of the right size, mostly modules.
        width = page.script("return arguments[0].getBoundingClientRect().width", qr)
        assert width > 100
        share = dark_fraction(qr.screenshot_as_png)
        assert 0.25 < share < 0.75, share
        page.fill(totp_code="000000")
        page.find("#totp-confirm").click()
        page.visible("#totp_code-error")

        totp = pyotp.TOTP(page.find("#totp-secret").text)
        page.fill(totp_code=totp.now())
        page.find("#totp-confirm").click()
        page.visible("#recovery-codes")
        codes = [item.text for item in page.all("#recovery-codes li")]
        assert len(codes) == 10
        assert len(set(codes)) == 10
        page.find("#recovery-codes-done").click()
        page.text_in("#totp-status", "on")
        assert page.find("#recovery-codes-left").text == "10"

        page.sign_out()
        page.sign_in(username, PASSWORD)
        page.visible("#code")
        assert page.all("#account-view") == []
        page.find("#code").send_keys(totp.at(time.time() + 30))
        page.find("#sign-in-submit").click()
        page.signed_in_as(username)

        page.sign_out()
        page.sign_in(username, PASSWORD)
        page.visible("#code").send_keys(codes[0])
        page.find("#sign-in-submit").click()
        page.signed_in_as(username)
        page.text_in("#recovery-codes-left", "9")
        assert browser_errors(page.driver) == []

    def test_new_recovery_codes_and_turning_it_off(self, page: AccountPage, client: httpx.Client):
        username = signed_in(page, client)
        totp, old_codes = enroll_totp(page)
        page.find("#recovery-codes-done").click()
        page.visible("#totp-proof-form")

        page.fill(totp_password=PASSWORD, totp_code=old_codes[0])
        page.find("#new-recovery-codes").click()
        page.visible("#recovery-codes")
        new_codes = [item.text for item in page.all("#recovery-codes li")]
        assert len(new_codes) == 10
        assert not set(new_codes) & set(old_codes)
        page.find("#recovery-codes-done").click()
        page.text_in("#recovery-codes-left", "10")

        page.fill(totp_password=PASSWORD, totp_code=totp.at(time.time() + 30))
        page.find("#totp-remove").click()
        page.confirm()
        page.text_in("#totp-status", "off")
        # A password alone signs in again.
        assert log_in(client, username)["access_token"]
        assert browser_errors(page.driver) == []


class TestPasskeys:
    def test_add_sign_in_alone_and_as_the_second_step_rename_and_remove(
        self, page: AccountPage, client: httpx.Client, stack: Stack
    ):
        username = signed_in(page, client)
        add_passkey(page, "Laptop")
        (credential,) = page.driver.get_credentials()
        assert credential.is_resident_credential
        assert credential.rp_id == "localhost"
        assert page.find("[data-testid=passkey-row]").text.count("never") == 1  # not used yet

        # Removing it needs a recent sign-in with a second factor: this one used a password
        # alone, so the page asks to sign in again.
        page.find("[data-testid=remove-passkey]").click()
        page.confirm()
        page.visible("#sign-in")
        page.text_in("#status", "recent sign-in")
        # The page ended the session it gave up rather than leave it live (adding the
        # passkey had ended the others).
        assert live_sessions(stack, username) == 0

        page.find("#passkey-sign-in").click()
        page.signed_in_as(username)
        page.until(lambda _: "never" not in page.find("[data-testid=passkey-row]").text)

        page.sign_out()
        page.sign_in(username, PASSWORD)
        page.visible("#use-passkey")
        assert not page.find("#code").is_displayed(), "no app: only the passkey answers"
        page.find("#use-passkey").click()
        page.signed_in_as(username)

        page.find("[data-testid=rename-passkey]").click()
        field = page.visible("[data-testid=passkey-new-name]")
        field.clear()
        field.send_keys("Work laptop")
        page.find("[data-testid=save-passkey-name]").click()
        page.text_in("[data-testid=passkey-name]", "Work laptop")

        page.find("[data-testid=remove-passkey]").click()
        page.confirm()
        page.visible("#no-passkeys")
        # The password alone signs in again: the account has no second factor left.
        assert api_get(client, username, "/api/v1/auth/factors/passkeys").json() == []
        assert browser_errors(page.driver) == []


class TestSessions:
    def test_end_another_session_then_all_others(self, page: AccountPage, client: httpx.Client):
        username = register(client, "acct")
        phone, laptop = (
            client.post(
                "/api/v1/auth/login",
                json={"username": username, "password": PASSWORD},
                headers={"User-Agent": agent},
            ).json()
            for agent in ("AccountTest Phone/1.0", "AccountTest Laptop/2.0")
        )
        page.open()
        page.sign_in(username, PASSWORD)
        page.signed_in_as(username)
        page.until(lambda _: len(page.all("[data-testid=session-row]")) == 3)
        (phone_row,) = [r for r in page.all("[data-testid=session-row]") if "Phone" in r.text]
        phone_row.find_element(By.CSS_SELECTOR, "[data-testid=end-session]").click()
        page.until(lambda _: len(page.all("[data-testid=session-row]")) == 2)
        assert client.get("/api/v1/users/me", headers=bearer(phone)).status_code == 401
        assert client.get("/api/v1/users/me", headers=bearer(laptop)).status_code == 200

        page.find("#end-other-sessions").click()
        page.confirm()
        page.text_in("#status", "Every other session has ended")
        page.until(lambda _: len(page.all("[data-testid=session-row]")) == 1)
        assert page.find("[data-testid=session-row]").get_attribute("data-current") == "true"
        assert client.get("/api/v1/users/me", headers=bearer(laptop)).status_code == 401
        assert not page.find("#end-other-sessions").is_enabled()


def create_token(page: AccountPage, name: str, days: str = "7") -> None:
    """Fill the token form (``profile:read`` only) and send it."""
    page.fill(pat_name=name, pat_expires_in_days=days)
    page.find("[data-testid=pat-scope][value='profile:read']").click()
    page.find("#create-token").click()


def token_shown_once(page: AccountPage) -> str:
    """The new token's value, from the panel that shows it once."""
    page.visible("#new-token")
    page.text_in("#new-token-warning", "not shown again")
    token: str = page.find("#new-token-value").get_attribute("value") or ""
    assert token.startswith("tsr_pat_")
    return token


def wait_for_last_use(client: httpx.Client, username: str, name: str) -> None:
    """Until the services have written the token's last use (every half second here)."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        listed = api_get(client, username, "/api/v1/auth/tokens").json()
        if any(t["name"] == name and t["last_used_at"] for t in listed):
            return
        time.sleep(0.5)
    raise AssertionError(f"the last use of {name} was never written")


def pat_bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class TestPersonalTokens:
    def test_create_shown_once_used_listed_and_revoked(
        self, page: AccountPage, client: httpx.Client
    ):
        username = signed_in(page, client)
        page.visible("#no-tokens")
        offered = [box.get_attribute("value") or "" for box in page.all("[data-testid=pat-scope]")]
        assert sorted(offered) == ["profile:read", "profile:write", "sessions:write"]

        # No scope ticked: the server's 422 is shown under the scopes.
        page.fill(pat_name="ci", pat_expires_in_days="7")
        page.find("#create-token").click()
        page.visible("[data-testid=pat_scopes-error]")
        assert page.find("#pat_scopes").get_attribute("aria-invalid") == "true"

        # The server's maximum: its 422 is shown under the expiry field.
        create_token(page, "ci", days="9999")
        page.text_in("[data-testid=pat_expires_in_days-error]", "at most 365 days")
        assert page.find("#pat_expires_in_days").get_attribute("aria-invalid") == "true"
        assert page.all("#new-token") == []

        page.find("[data-testid=pat-scope][value='profile:read']").click()  # unticked again
        create_token(page, "ci")
        token = token_shown_once(page)
        page.driver.execute_cdp_cmd(
            "Browser.grantPermissions",
            {
                "origin": page.origin,
                "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"],
            },
        )
        page.find("#copy-token").click()
        page.text_in("#status", "copied")
        assert (
            page.driver.execute_async_script("navigator.clipboard.readText().then(arguments[0])")
            == token
        )
        me = client.get("/api/v1/users/me", headers=pat_bearer(token))
        assert me.status_code == 200
        assert me.json()["username"] == username
        page.text_in("[data-testid=token-name]", "ci")
        assert page.find("[data-testid=token-row]").text.count("profile:read") == 1
        assert page.find("[data-testid=token-last-used]").text == "never"

        page.find("#new-token-done").click()
        page.until(lambda _: page.all("#new-token") == [])
        assert token not in page.driver.page_source
        assert token not in page.script("return document.documentElement.outerHTML")
        stored = page.script("return [localStorage.length, sessionStorage.length, document.cookie]")
        assert stored == [0, 0, ""]

        # A reload: the list again, with its last use, and the token nowhere.
        wait_for_last_use(client, username, "ci")
        page.open()
        page.sign_in(username, PASSWORD)
        page.signed_in_as(username)
        page.visible("[data-testid=token-row]")
        assert page.find("[data-testid=token-last-used]").text != "never"
        assert page.all("#new-token") == []
        assert token not in page.driver.page_source

        page.find("[data-testid=revoke-token]").click()
        page.confirm()
        page.visible("#no-tokens")
        page.text_in("#status", "is revoked")
        assert client.get("/api/v1/users/me", headers=pat_bearer(token)).status_code == 401
        assert browser_errors(page.driver) == []

    def test_made_and_dismissed_from_the_keyboard(self, page: AccountPage, client: httpx.Client):
        signed_in(page, client)
        page.find("#pat_name").click()

        def active() -> WebElement:
            return page.driver.switch_to.active_element

        active().send_keys("keys", Keys.TAB)
        assert active().get_attribute("value") == "profile:read"  # the first scope
        active().send_keys(Keys.SPACE)
        for _ in range(3):  # past the two other scopes to the days
            active().send_keys(Keys.TAB)
        assert active().get_attribute("id") == "pat_expires_in_days"
        active().send_keys(Keys.ENTER)  # submits the form
        page.visible("#new-token")
        assert active().get_attribute("id") == "new-token-title"
        for expected in ("new-token-value", "copy-token", "new-token-done"):
            active().send_keys(Keys.TAB)
            assert active().get_attribute("id") == expected
        active().send_keys(Keys.ENTER)
        page.until(lambda _: page.all("#new-token") == [])
        assert active().get_attribute("id") == "pat_name"
        page.text_in("[data-testid=token-name]", "keys")
        assert browser_errors(page.driver) == []

    def test_step_up_signs_in_again_then_makes_the_token(
        self, page: AccountPage, client: httpx.Client, stack: Stack
    ):
        username = signed_in(page, client)
        # Adding a passkey leaves this sign-in without the account's second factor: making
        # a token now needs a new sign-in (step-up), as removing the passkey would.
        add_passkey(page, "Laptop")
        create_token(page, "deploy")
        page.visible("#sign-in")
        page.text_in("#status", "recent sign-in")
        assert live_sessions(stack, username) == 0

        page.find("#passkey-sign-in").click()
        page.signed_in_as(username)
        token = token_shown_once(page)
        page.text_in("[data-testid=token-name]", "deploy")
        assert client.get("/api/v1/users/me", headers=pat_bearer(token)).status_code == 200
        page.find("#new-token-done").click()
        page.until(lambda _: page.all("#new-token") == [])
        assert token not in page.driver.page_source
        assert browser_errors(page.driver) == []


class TestProfile:
    def test_names_email_and_password_with_errors_next_to_their_fields(
        self, page: AccountPage, client: httpx.Client
    ):
        username = signed_in(page, client)
        other = register(client, "acct")
        page.fill(nickname="Ada", first_name="Ada", last_name="Lovelace")
        page.find("#save-profile").click()
        page.text_in("#status", "Your profile is saved")
        me = api_get(client, username, "/api/v1/users/me").json()
        assert (me["nickname"], me["first_name"], me["last_name"]) == ("Ada", "Ada", "Lovelace")

        page.fill(email=f"{username}.new@example.com")
        page.find("#save-profile").click()
        page.visible("#current_password-error")
        page.fill(email=f"{other}@example.com", current_password=PASSWORD)
        page.find("#save-profile").click()
        page.visible("#email-error")
        assert page.find("#email").get_attribute("aria-invalid") == "true"
        page.fill(email=f"{username}.new@example.com", current_password=PASSWORD)
        page.find("#save-profile").click()
        page.text_in("#status", "Your profile is saved")
        assert api_get(client, username, "/api/v1/users/me").json()["email"] == (
            f"{username}.new@example.com"
        )

        page.fill(current_password_change=PASSWORD, new_password="12345678")
        page.find("#change-password").click()
        page.visible("#new_password-error")
        # A 422 naming `current_password` lands under this form's own field of that name.
        page.fill(current_password_change="x" * 1025, new_password="velvet-harbour-2031")
        page.find("#change-password").click()
        page.visible("#current_password_change-error")
        page.fill(current_password_change="wrong-password-here", new_password="velvet-harbour-2031")
        page.find("#change-password").click()
        page.visible("#current_password_change-error")
        page.fill(current_password_change=PASSWORD, new_password="velvet-harbour-2031")
        page.find("#change-password").click()
        page.text_in("#status", "Your password is changed")
        signed = client.post(
            "/api/v1/auth/login", json={"username": username, "password": "velvet-harbour-2031"}
        )
        assert signed.status_code == 200
        assert browser_errors(page.driver) == []


class TestServedSafely:
    @pytest.mark.parametrize("path", ["/account/", "/account/app.js", "/account/shared/api.js"])
    def test_policy_headers_through_the_gateway(self, gateway_client: httpx.Client, path: str):
        response = gateway_client.get(path)
        assert response.status_code == 200
        assert response.headers["content-security-policy"] == STRICT_CSP
        assert response.headers["x-frame-options"] == "DENY"

    def test_the_gateway_redirects_and_links_the_page(self, gateway_client: httpx.Client):
        response = gateway_client.get("/account")
        assert (response.status_code, response.headers["location"]) == (301, "/account/")
        landing = gateway_client.get("/").text
        assert 'href="/account/"' in landing
        assert 'href="/admin/"' in landing
        missing = gateway_client.get("/account/missing.js")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"


def test_screenshots(page: AccountPage, client: httpx.Client, tmp_path: Path):
    """docs/account.md's pictures: written to ``$TESSERA_SCREENSHOTS``, else to a temporary
    directory, so every run proves the page still renders."""
    directory = Path(os.environ.get("TESSERA_SCREENSHOTS") or tmp_path)
    directory.mkdir(parents=True, exist_ok=True)
    username = "grace.hopper"  # a name no other test uses: the stack is fresh each run
    created = client.post(
        "/api/v1/auth/register",
        json={
            "username": username,
            "email": f"{username}@example.org",
            "password": PASSWORD,
            "nickname": "Grace",
            "first_name": "Grace",
            "last_name": "Hopper",
        },
    )
    assert created.status_code == 201, created.text
    page.open()
    page.sign_in(username, PASSWORD)
    page.signed_in_as(username)

    def whole_page(name: str) -> None:
        outer = page.driver.get_window_size()["height"]
        chrome = outer - page.script("return innerHeight")
        height = page.script("return document.documentElement.scrollHeight")
        page.driver.set_window_size(DESKTOP[0], height + chrome)
        page.driver.save_screenshot(str(directory / name))
        page.driver.set_window_size(*DESKTOP)

    page.fill(totp_password=PASSWORD)
    page.find("#totp-start").click()
    page.visible("#totp-qr svg")
    whole_page("account-totp.png")
    totp = pyotp.TOTP(page.find("#totp-secret").text)
    page.fill(totp_code=totp.now())
    page.find("#totp-confirm").click()
    page.visible("#recovery-codes-done").click()
    page.text_in("#totp-status", "on")
    add_passkey(page, "MacBook (Touch ID)")
    # A phone signed in after both (each change ended the account's other sessions).
    phone = {"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X)"}
    answered = client.post(
        "/api/v1/auth/login", json={"username": username, "password": PASSWORD}, headers=phone
    )
    second = client.post(
        "/api/v1/auth/login/second-factor",
        json={"challenge": answered.json()["challenge"], "code": totp.at(time.time() + 30)},
        headers=phone,
    )
    assert second.status_code == 200, second.text
    page.sign_out()
    page.find("#passkey-sign-in").click()
    page.signed_in_as(username)
    page.until(lambda _: len(page.all("[data-testid=session-row]")) == 2)
    page.until(lambda _: page.all("[data-testid=passkey-row]"))
    whole_page("account.png")
    for name in ("account.png", "account-totp.png"):
        picture = (directory / name).read_bytes()
        assert picture.startswith(b"\x89PNG"), name
        assert len(picture) > 10_000, name
    assert browser_errors(page.driver) == []
