"""A real browser for the e2e tests: Debian's ``chromium`` driven headless through Debian's
``chromium-driver`` with Selenium (``.ci/run`` installs both)."""

from __future__ import annotations

import os
import re
import struct
import zlib
from collections.abc import Callable
from typing import Any, TypeVar

from selenium import webdriver
from selenium.webdriver import Chrome
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.virtual_authenticator import VirtualAuthenticatorOptions
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.wait import WebDriverWait

from tests.e2e.stack import require_binary

T = TypeVar("T")
WAIT_SECONDS = 15
DESKTOP = (1280, 900)
# The pages' policy, written out: a change to it in the product must fail the tests.
STRICT_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def start_chromium() -> Chrome:
    """Headless Chromium at a fixed size that keeps the browser's console log. Both binaries
    are given by path, so Selenium Manager never looks for (or downloads) anything."""
    chromium = require_binary("chromium")
    chromedriver = require_binary("chromedriver")
    os.environ["SE_OFFLINE"] = "true"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
        "--disable-dev-shm-usage",
        f"--window-size={DESKTOP[0]},{DESKTOP[1]}",
        "--lang=en-US",
        "--no-first-run",
        "--disable-background-networking",  # no requests of the browser's own
        "--disable-component-update",
        "--disable-sync",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)


def add_passkey_device(driver: Chrome) -> None:
    """A virtual platform authenticator (Chromium's WebAuthn testing API) that holds
    discoverable credentials and verifies its user at once, like a phone's screen lock
    that always says yes; ``driver.remove_virtual_authenticator()`` takes it away."""
    options = VirtualAuthenticatorOptions()
    options.protocol = VirtualAuthenticatorOptions.Protocol.CTAP2
    options.transport = VirtualAuthenticatorOptions.Transport.INTERNAL
    options.has_resident_key = True
    options.has_user_verification = True
    options.is_user_verified = True
    driver.add_virtual_authenticator(options)


def browser_errors(driver: Chrome) -> list[str]:
    """The browser console's errors (an uncaught exception, a module that did not load) and
    policy violations since the last call. The API's 4xx answers, which Chromium logs as
    "Failed to load resource", are not among them: the page expects and shows those."""
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if re.search(r"Content.Security.Policy|Refused to", entry["message"], re.I)
        or (
            entry["level"] == "SEVERE"
            and not re.search(
                r"/api/v1/\S+ - Failed to load resource: the server responded with a status of 4\d\d",
                entry["message"],
            )
        )
    ]


def dark_fraction(png: bytes) -> float:
    """The share of dark pixels of a screenshot (8-bit RGB or RGBA PNG, as Chromium takes
    them): enough to tell a drawn QR code from an empty box without an imaging library."""
    width = height = channels = 0
    data = b""
    position = 8
    while position < len(png):
        (length,) = struct.unpack(">I", png[position : position + 4])
        kind = png[position + 4 : position + 8]
        chunk = png[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8, depth
            assert color in (2, 6), color
            channels = 4 if color == 6 else 3
        elif kind == b"IDAT":
            data += chunk
        position += 12 + length
    raw = zlib.decompress(data)
    stride = width * channels
    previous = bytearray(stride)
    dark = 0
    for row in range(height):
        start = row * (stride + 1)
        row_filter, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if row_filter == 1:
                line[i] = (line[i] + left) & 0xFF
            elif row_filter == 2:
                line[i] = (line[i] + up) & 0xFF
            elif row_filter == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif row_filter == 4:
                estimate = left + up - corner
                distances = (abs(estimate - left), abs(estimate - up), abs(estimate - corner))
                best = (left, up, corner)[distances.index(min(distances))]
                line[i] = (line[i] + best) & 0xFF
        dark += sum(1 for x in range(0, stride, channels) if sum(line[x : x + 3]) < 3 * 96)
        previous = line
    return dark / (width * height)


class Page:
    """A page in the browser, by the ids it gives its elements."""

    def __init__(self, driver: Chrome, origin: str) -> None:
        self.driver = driver
        self.origin = origin

    # --- waiting ---------------------------------------------------------------------

    def until(self, condition: Callable[[Chrome], T], timeout: float = WAIT_SECONDS) -> T:
        return WebDriverWait(self.driver, timeout).until(condition)

    def visible(self, css: str) -> WebElement:
        found = self.until(ec.visibility_of_element_located((By.CSS_SELECTOR, css)))
        assert found is not False  # until() returns only once the condition holds
        return found

    def text_in(self, css: str, text: str) -> None:
        self.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, css), text))

    def gone(self, element: WebElement) -> None:
        self.until(ec.staleness_of(element))

    def find(self, css: str) -> WebElement:
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def all(self, css: str) -> list[WebElement]:
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def script(self, source: str, *args: Any) -> Any:
        return self.driver.execute_script(source, *args)

    def status(self) -> str:
        return self.find("#status").text

    def alert(self) -> str:
        return self.find("#alert").text

    def sign_in(self, username: str, password: str) -> None:
        self.find("#username").send_keys(username)
        self.find("#password").send_keys(password)
        self.find("#sign-in-submit").click()

    def confirm(self, accept: bool = True) -> None:
        self.visible("#confirm")
        self.find("#confirm-ok" if accept else "#confirm-cancel").click()
        self.until(lambda d: not self.find("#confirm").get_attribute("open"))


class AccountPage(Page):
    """The account page at ``/account/``."""

    def open(self) -> None:
        """Load the page afresh: whatever it held in memory is gone."""
        self.driver.get(f"{self.origin}/account/")
        self.visible("#sign-in")

    def signed_in_as(self, username: str) -> None:
        self.visible("#account-view")
        self.text_in("#whoami", f"Signed in as {username}")

    def sign_out(self) -> None:
        self.find("#sign-out").click()
        self.visible("#sign-in")
        self.text_in("#status", "Signed out")

    def fill(self, **fields: str) -> None:
        for name, value in fields.items():
            field = self.find(f"#{name}")
            field.clear()
            field.send_keys(value)


class ConsolePage(Page):
    """The admin console in the browser, by the ids the page gives its elements."""

    # --- navigating ------------------------------------------------------------------

    def open(self, fragment: str = "") -> None:
        """Load the page afresh: whatever the console held in memory is gone."""
        self.driver.get(f"{self.origin}/admin/{fragment}")
        self.visible("#sign-in")

    def go(self, fragment: str) -> WebElement:
        """Follow an in-page address (``#/users?...``) and wait for its view."""
        old = self.find("#view > *")
        self.script("location.hash = arguments[0]", fragment)
        self.gone(old)
        return self.visible("#view-title")

    def sign_in_as_admin(self, username: str, password: str) -> None:
        self.open()
        self.sign_in(username, password)
        self.visible("#users-view")

    # --- the list ----------------------------------------------------------------------

    def usernames(self) -> list[str]:
        return [row.find_element(By.CSS_SELECTOR, ".user-link").text for row in self.rows()]

    def rows(self) -> list[WebElement]:
        return self.all("#users-table [data-testid=user-row]")

    def apply(self, **filters: str) -> None:
        """Set the filter form's fields (by name) and apply them; waits for the new page."""
        from selenium.webdriver.support.select import Select

        for name, value in filters.items():
            field = self.find(f"#filter-{name}")
            if field.tag_name == "select":
                Select(field).select_by_value(value)
            else:
                field.clear()
                field.send_keys(value)
        old = self.find("#users-view")
        self.find("#apply-filters").click()
        self.gone(old)
        self.visible("#users-view")

    def follow(self, css: str) -> None:
        """Click a link or button that leads to another view and wait for it."""
        old = self.find("#view > *")
        self.find(css).click()
        self.gone(old)
        self.visible("#view-title")

    def open_user(self, user_id: str) -> None:
        self.go(f"#/users/{user_id}")
        self.visible("#user-view")
