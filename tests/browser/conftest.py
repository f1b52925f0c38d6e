"""Real Chromium through Playwright: one browser per test module, a fresh context per test.

Playwright's sync API keeps an event loop running on the main thread while it is started, and
Django refuses ORM calls it sees from inside one. The browser tests drive a separate server process
and only use the ORM for setup and checks, which is safe, so the guard is lifted while a browser is
up, and only then. The browser stops with its module so later asyncio tests get a free thread.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

from tests.clock import wait_for

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-gpu",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def chromium_browser() -> Iterator[object]:
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        # CI installs Chromium (.ci/run), so there a missing browser is a failure, not a skip.
        report = pytest.fail if os.environ.get("CI") else pytest.skip
        report(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def js_errors() -> list[str]:
    """Uncaught errors of the page's scripts; a test ends by asserting there were none."""
    return []


@pytest.fixture
def page(chromium_browser, js_errors) -> Iterator[object]:
    context = chromium_browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.on("pageerror", lambda exc: js_errors.append(str(exc)))
    try:
        yield page
    finally:
        context.close()


class SocketProxy:
    """Routes the page's dashboard socket through the test. While `forwarding` is off, what the
    server sends is dropped: a test waits until a push was lost, then checks the page did not get
    it, instead of sleeping and hoping it would have by then."""

    def __init__(self) -> None:
        self.forwarding = True
        # While holding, what the server sends waits here, in order, until `release`.
        self.holding = False
        self.held: list[tuple[object, object]] = []
        self.received: list[tuple[str, bool]] = []  # (message, forwarded), in order
        self.sockets: list[object] = []

    def __call__(self, ws) -> None:
        server = ws.connect_to_server()
        server.on_message(lambda message: self._relay(ws, message))
        self.sockets.append(ws)

    def _relay(self, ws, message) -> None:
        text = message if isinstance(message, str) else message.decode()
        self.received.append((text, self.forwarding))
        if self.forwarding and self.holding:
            self.held.append((ws, message))
        elif self.forwarding:
            ws.send(message)

    def release(self) -> None:
        """Pass on what was held, in order, and forward as it comes again."""
        self.holding = False
        held, self.held = self.held, []
        for ws, message in held:
            ws.send(message)

    def wait_hello(self, page) -> None:
        """Until the page got the server's first message, which starts its sequence numbers."""
        self._wait(page, lambda: any('"hello"' in m for m, sent in self.received if sent),
                   what="the socket's hello passed to the page")  # fmt: skip

    def wait_dropped(self, page, *action_ids: str) -> None:
        """Until a push about each of `action_ids` reached the proxy and was dropped."""

        def all_dropped() -> bool:
            dropped = [m for m, sent in self.received if not sent]
            return all(any(str(pk) in m for m in dropped) for pk in action_ids)

        self._wait(page, all_dropped, what=f"the pushes about {action_ids} dropped")

    @staticmethod
    def _wait(page, check, *, what: str) -> None:
        def checked():
            page.evaluate("0")  # any call into Playwright dispatches the socket callbacks
            return check()

        wait_for(checked, deadline=15, what=what)
