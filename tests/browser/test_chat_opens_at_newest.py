"""The live discussion opens at its newest message: with JavaScript scrolled there (the message
box under it too), without JavaScript through the "Jump to the newest message" link; a link to
one message (#m123) still opens at that message."""
from __future__ import annotations

import pytest

from app.extensions import db
from app.models import User
from app.services import chat

IN_VIEW = """(el) => { const r = el.getBoundingClientRect();
                       return r.top >= -1 && r.bottom <= window.innerHeight + 1; }"""  # (sub-pixel)


@pytest.fixture
def long_channel(app, make):
    """A channel with more messages than one page holds, each a few lines long."""
    alice = make.user("employee", name="Alice Andersen")
    community = make.community("open", name="Trail Talk")
    with app.app_context():
        author = db.session.get(User, alice.id)
        ids = [chat.post(author, community.id, f"Message {i}\n\nabout the trail,\n\nline three", client_key=f"long-{i:04d}")[0].id
               for i in range(70)]
    return alice, community, ids


@pytest.mark.parametrize("viewport", [{"width": 1280, "height": 800}, {"width": 390, "height": 844}])
def test_the_channel_opens_at_the_newest_message(browser, live_server, sign_in, long_channel, viewport):
    alice, community, ids = long_channel
    context = browser.new_context(viewport=viewport)
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        sign_in(page, alice)
        page.goto(f"{live_server}/c/{community.slug}/chat")
        newest = page.locator(f"#m{ids[-1]}")
        assert page.evaluate("() => document.documentElement.scrollHeight > 2 * window.innerHeight")  # really long
        page.wait_for_function(f"() => ({IN_VIEW})(document.getElementById('m{ids[-1]}'))")
        assert newest.evaluate(IN_VIEW)
        assert page.locator("[data-chat-form] textarea").evaluate(IN_VIEW)  # and the box to answer in
        # a link to one message still opens at that message, not at the end
        page.goto(f"{live_server}/c/{community.slug}/chat#m{ids[-40]}")
        page.wait_for_function(f"() => ({IN_VIEW})(document.getElementById('m{ids[-40]}'))")
        assert not newest.evaluate(IN_VIEW)
        assert errors == []
    finally:
        context.close()


def test_without_javascript_a_link_at_the_top_jumps_to_the_newest(browser, live_server, sign_in, long_channel):
    alice, community, ids = long_channel
    context = browser.new_context(viewport={"width": 1280, "height": 800}, java_script_enabled=False)
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        sign_in(page, alice)
        page.goto(f"{live_server}/c/{community.slug}/chat")
        newest = page.locator(f"#m{ids[-1]}")
        jump = page.get_by_role("link", name="Jump to the newest message")
        assert jump.evaluate(IN_VIEW)  # at the top, where the page opens
        jump.click()
        page.wait_for_function(f"() => ({IN_VIEW})(document.getElementById('m{ids[-1]}'))")
        assert newest.evaluate(IN_VIEW)
    finally:
        context.close()
