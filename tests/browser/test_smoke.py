"""Smoke tests in a real browser: sign in, find a community, and the 404 wall for outsiders.

They also guard what only a browser notices: console errors, Content Security Policy violations
(no inline script or style may sneak in) and horizontal scrolling on a phone-sized screen.
Screenshots go to the test's tmp folder, or to $KRING_SCREENSHOT_DIR when that is set.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def shots(tmp_path) -> Path:
    folder = Path(os.environ.get("KRING_SCREENSHOT_DIR") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _no_horizontal_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_employee_signs_in_and_opens_a_community(live_server, page, page_errors, sign_in, make, shots):
    person = make.user("employee", name="Ada Lovelace")
    community = make.community("open", name="Robotics Guild", topics=("Welcome robots",))
    make.member(community, person)

    sign_in(page, person)
    expect(page).to_have_url(f"{live_server}/")
    expect(page.locator("main")).to_contain_text("Ada Lovelace")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Communities").click()
    expect(page).to_have_url(f"{live_server}/communities")
    page.get_by_role("list", name="Communities").get_by_role("link", name="Robotics Guild").click()
    expect(page).to_have_url(f"{live_server}/c/{community.slug}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Robotics Guild")
    expect(page.get_by_role("list", name="Topics").get_by_role("link", name="Welcome robots")).to_be_visible()
    page.screenshot(path=shots / "community-desktop.png", full_page=True)

    page.set_viewport_size(PHONE)
    for path in ("/", f"/c/{community.slug}"):
        page.goto(f"{live_server}{path}")
        assert _no_horizontal_scroll(page), f"{path} scrolls sideways on a 390px-wide phone"
    page.screenshot(path=shots / "community-phone.png", full_page=True)
    assert (shots / "community-desktop.png").stat().st_size > 0
    assert (shots / "community-phone.png").stat().st_size > 0

    csp = [m for m in page_errors if "Content Security Policy" in m]
    assert not csp, f"CSP violations: {csp}"
    assert page_errors == [], f"the browser reported problems: {page_errors}"


def test_customer_gets_not_found_for_an_internal_community(live_server, page, sign_in, make):
    customer = make.user("customer", name="Carl Customer")
    internal = make.community("internal", name="Pricing Room", topics=("Price list 2027",))

    sign_in(page, customer)
    expect(page).to_have_url(f"{live_server}/")

    response = page.goto(f"{live_server}/c/{internal.slug}")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    expect(page.locator("main")).not_to_contain_text("Pricing Room")
    expect(page.locator("main")).not_to_contain_text("Price list 2027")
    assert re.search(r"\b404\b", page.locator("main").inner_text())
