"""Browser tests: a live Kring server in a thread, driven by Debian's Chromium via Playwright.

Playwright cannot download its own browsers here, so it launches /usr/bin/chromium (CI installs
it with apt). Without that binary the browser tests are skipped with a reason, except under
CI=true, where a missing browser is an error rather than a silent skip.

Fixtures: live_server (base URL of the app fixture served over HTTP), browser (one Chromium per
run), page (a fresh context per test), page_errors (console errors, uncaught exceptions and CSP
violations seen by `page`), sign_in(page, user) (through the real sign-in form).
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.conftest import PASSWORD

CHROMIUM = os.environ.get("KRING_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]
HOST = "127.0.0.1"


def pytest_collection_modifyitems(config, items):
    """Mark every test under tests/browser/ and run them after the rest (they are the slowest)."""
    here = Path(__file__).parent
    browser_items, others = [], []
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(pytest.mark.browser)
            browser_items.append(item)
        else:
            others.append(item)
    items[:] = others + browser_items


@pytest.fixture
def live_server(app):
    """Serve the test's app on a free port in a daemon thread; yield its base URL."""
    from app.extensions import socketio

    server = make_server(HOST, 0, app, threaded=True)
    base_url = f"http://{HOST}:{server.port}"
    # Let the browser's Socket.IO connections through the origin check (a new list: the
    # config default is shared with every other app built in this run).
    origins = [*app.config["KRING_ALLOWED_ORIGINS"], base_url]
    app.config["KRING_ALLOWED_ORIGINS"] = origins
    if socketio.server is not None:
        socketio.server.eio.cors_allowed_origins = origins
    thread = threading.Thread(target=server.serve_forever, name="kring-live-server", daemon=True)
    thread.start()
    try:
        yield base_url
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole run."""
    if not Path(CHROMIUM).exists():
        reason = f"{CHROMIUM} is missing (apt-get install chromium); browser tests need it"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser):
    """A page in a fresh browser context (own cookies and storage) for each test."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    tab = context.new_page()
    try:
        yield tab
    finally:
        context.close()


@pytest.fixture
def page_errors(page) -> list[str]:
    """Problems the page reported: console errors (CSP violations among them) and uncaught
    exceptions. Assert it is empty at the end of a test."""
    seen: list[str] = []

    def on_console(msg):
        if msg.type == "error" or "Content Security Policy" in msg.text:
            seen.append(f"console {msg.type}: {msg.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: seen.append(f"uncaught: {exc}"))
    return seen


@pytest.fixture
def sign_in(live_server):
    """sign_in(page, user): sign in through the sign-in form; returns the page afterwards."""

    def _sign_in(page, user, password: str = PASSWORD):
        page.goto(f"{live_server}/signin")
        page.fill("input[name=email]", user.email)
        page.fill("input[name=password]", password)
        with page.expect_navigation():
            page.locator("main form").filter(has=page.locator("input[name=password]")) \
                .locator("[type=submit]").first.click()
        return page

    return _sign_in
