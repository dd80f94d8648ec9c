"""Two people in two headless Chromium browsers: one writes in the live discussion and on a
post, the other sees both without reloading; the second goes offline, messages are sent, it
comes back and sees exactly what it missed (each message once)."""
from __future__ import annotations

import re

import pytest

from app.extensions import db
from app.models import Post, User
from app.services.content import posts


@pytest.fixture
def second_browser(browser):
    from tests.browser.conftest import CHROMIUM_ARGS  # noqa: F401 - same launch as `page`

    context = browser.new_context(viewport={"width": 390, "height": 844})
    context.set_default_timeout(10_000)
    try:
        yield context
    finally:
        context.close()


def _watch(tab, sink: list[str], ignore_network: list[bool]):
    def on_console(msg):
        text = msg.text
        if ignore_network[0] and ("WebSocket" in text or "ERR_INTERNET_DISCONNECTED" in text
                                  or "Failed to load resource" in text):
            return
        if msg.type == "error" or "Content Security Policy" in text:
            sink.append(f"console {msg.type}: {text}")

    tab.on("console", on_console)
    tab.on("pageerror", lambda exc: sink.append(f"uncaught: {exc}"))


def _wait_connected(tab):
    tab.wait_for_function("() => window.kringLive && window.kringLive.socket.connected")


def test_two_people_see_each_other_live_and_nothing_is_lost_offline(
        app, make, live_server, page, second_browser, sign_in):
    alice = make.user("employee", name="Alice Andersen")
    bob = make.user("employee", name="Bob Brouwer")
    community = make.community("open", name="Trail Talk")
    with app.app_context():
        post = posts.create(db.session.get(User, alice.id), community.slug, "discussion", "Best trail snacks", "Share yours.")
        post_id = post.id
    errors: list[str] = []
    offline = [False]

    # Bob: the channel in one tab, the post in another
    bob_chat = second_browser.new_page()
    _watch(bob_chat, errors, offline)
    sign_in(bob_chat, bob)
    bob_chat.goto(f"{live_server}/c/{community.slug}/chat")
    _wait_connected(bob_chat)
    bob_post = second_browser.new_page()
    _watch(bob_post, errors, offline)
    bob_post.goto(f"{live_server}/p/{post_id}")
    _wait_connected(bob_post)

    # Alice writes in the channel (Enter sends) and sees her message stored and acknowledged
    _watch(page, errors, [False])
    sign_in(page, alice)
    page.goto(f"{live_server}/c/{community.slug}/chat")
    _wait_connected(page)
    page.fill("#chat-body", "Hello Bob, *fresh* trail mix today!")
    page.press("#chat-body", "Enter")
    page.wait_for_selector(".chat-log .chat-message:not(.is-pending) >> text=fresh")
    assert page.locator("#chat-body").input_value() == ""

    # Bob sees it at once, rendered (the emphasis is HTML, sanitised on the server)
    bob_chat.wait_for_selector(".chat-log .chat-message em >> text=fresh")
    assert bob_chat.locator(".chat-message .person-name", has_text="Alice Andersen").count() == 1
    # ... and Alice is listed as here now
    bob_chat.wait_for_selector("[data-presence] >> text=Alice Andersen")

    # Bob sees Alice typing; Alice deletes a message (after confirming) and it goes for Bob too
    page.type("#chat-body", "Another thou")
    bob_chat.wait_for_selector("[data-typing] >> text=Alice Andersen is typing")
    page.fill("#chat-body", "Oops, wrong channel")
    page.press("#chat-body", "Enter")
    bob_chat.wait_for_selector(".chat-message >> text=wrong channel")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(".chat-message", has_text="wrong channel").locator("button.chat-delete").click()
    bob_chat.wait_for_function("() => ![...document.querySelectorAll('.chat-message')]"
                               ".some(e => e.textContent.includes('wrong channel'))")
    assert bob_chat.locator(".chat-message.is-deleted").count() == 1
    assert page.url.endswith("/chat")  # deleted over the socket: no page load

    # Alice comments on the post (a plain form post); Bob's post tab shows it without reload
    page.goto(f"{live_server}/p/{post_id}")
    page.fill("#comment-body", "Dried mango, always.")
    with page.expect_navigation():
        page.click("#comment-form button[type=submit]")
    bob_post.wait_for_selector("#comments .comment-body >> text=Dried mango")
    assert re.search(r"1 comment\b", bob_post.locator("#comments-title").inner_text())

    # Bob goes offline (the network is cut and the socket with it)
    offline[0] = True
    second_browser.set_offline(True)
    bob_chat.evaluate("() => window.kringLive.socket.io.engine.close()")
    bob_chat.wait_for_function("() => !window.kringLive.socket.connected")

    page.goto(f"{live_server}/c/{community.slug}/chat")
    _wait_connected(page)
    missed = [f"While you were away #{i}" for i in range(1, 4)]
    for text in missed:
        page.fill("#chat-body", text)
        page.press("#chat-body", "Enter")
        page.wait_for_selector(f".chat-message:not(.is-pending) >> text={text}")
    assert bob_chat.locator(".chat-message", has_text="While you were away").count() == 0

    # Bob comes back: the client reconnects with the last id it has, the server replays
    second_browser.set_offline(False)
    bob_chat.wait_for_function("() => window.kringLive.socket.connected", timeout=20_000)
    for text in missed:
        bob_chat.wait_for_selector(f".chat-message >> text={text}")
    offline[0] = False
    bob_chat.wait_for_timeout(500)  # give a duplicate the chance to show up
    for text in missed:
        assert bob_chat.locator(".chat-message", has_text=text).count() == 1, text
    ids = bob_chat.eval_on_selector_all(".chat-log .chat-message", "els => els.map(e => e.id)")
    assert len(ids) == len(set(ids)) == 5  # hello, the deleted one, and the three missed
    with app.app_context():
        assert db.session.get(Post, post_id).comment_count == 1
    assert errors == []


def test_an_idea_page_follows_votes_the_official_response_and_notifications(app, make, live_server, page, page_errors,
                                                                            sign_in):
    from app.services.content import ideas
    from app.services.platform import jobs

    manager, author, voter = make.user("employee", name="Mia Manager"), make.user("employee"), make.user("employee")
    community = make.community("open", manager=manager)
    with app.app_context():
        idea_id = posts.create(db.session.get(User, author.id), community.slug, "idea", "Solar panel on the tent",
                               "Charge phones on the trail.").id
    sign_in(page, author)
    page.goto(f"{live_server}/c/{community.slug}")
    _wait_connected(page)
    list_tab = page
    idea_tab = page.context.new_page()
    idea_tab.goto(f"{live_server}/p/{idea_id}")
    _wait_connected(idea_tab)
    with app.app_context():
        ideas.toggle_vote(db.session.get(User, voter.id), idea_id)
        ideas.change_status(db.session.get(User, manager.id), idea_id, "planned",
                            f"Good one, @{author.handle}: we **plan** it for spring.")
        posts.create(db.session.get(User, manager.id), community.slug, "discussion", "Spring range preview", "Soon.")
        jobs.drain()
    idea_tab.wait_for_selector("#idea .vote-total strong >> text=1")
    assert idea_tab.locator("#idea .vote-total").inner_text().split() == ["1", "vote"]
    idea_tab.wait_for_selector("#idea .status-banner .badge >> text=Planned")
    response = idea_tab.locator("#idea .official-response")
    assert response.locator("strong", has_text="plan").count() == 1  # the response's HTML, sanitised
    assert "Mia Manager" in response.inner_text()
    idea_tab.wait_for_selector(".main-nav .nav-count")  # the mention, counted in the header
    list_tab.wait_for_selector(".live-new-posts >> text=Spring range preview")
    list_tab.wait_for_selector(".post-card .badge-status-planned")
    assert page_errors == []


def test_messages_committed_together_arrive_as_one_batch_and_show_in_order(
        app, make, live_server, page, page_errors, sign_in, monkeypatch):
    from app import events
    from app.live import manager
    from app.services import chat

    monkeypatch.setattr(manager, "FENCE_SECONDS", 0.3)  # the replay window after connecting, shortened
    alice, bob = make.user("employee", name="Alice Andersen"), make.user("employee", name="Bob Brouwer")
    community = make.community("open", name="Trail Talk")
    sign_in(page, bob)
    page.goto(f"{live_server}/c/{community.slug}/chat")
    _wait_connected(page)
    page.evaluate("() => { window.batches = 0; window.kringLive.socket.on('live.batch', () => window.batches++); }")
    page.wait_for_timeout(400)  # past the replay window: the room takes batches now
    texts = [f"Burst number {i}" for i in range(1, 4)]
    with app.app_context():
        with events.held() as collected:  # three messages stored at the same moment (app.live.guard)
            for i, text in enumerate(texts):
                chat.post(db.session.get(User, alice.id), community.id, text, client_key=f"burst-key-{i}")
        events.send_all(collected)
    page.wait_for_selector(f".chat-message >> text={texts[-1]}")
    assert page.evaluate("() => window.batches") == 1
    shown = page.eval_on_selector_all(".chat-log .chat-message .chat-body", "els => els.map(e => e.textContent.trim())")
    assert [t for t in shown if t.startswith("Burst")] == texts
    assert page_errors == []


def test_a_message_hidden_by_a_moderator_says_so_live_and_moderators_may_open_it(
        app, make, live_server, page, page_errors, sign_in, second_browser):
    from app.services import chat, moderation

    manager, author, reader = (make.user("employee", name="Mona Manager"), make.user("customer", name="Carl Customer"),
                               make.user("employee", name="Rita Reader"))
    community = make.community("open", manager=manager, name="Bike Chat")
    with app.app_context():
        message_id = chat.post(db.session.get(User, author.id), community.id, "Cheap watches, click here")[0].id
    sign_in(page, manager)
    other = second_browser.new_page()
    sign_in(other, reader)
    for tab in (page, other):
        tab.goto(f"{live_server}/c/{community.slug}/chat")
        tab.wait_for_selector("text=Cheap watches, click here")
        _wait_connected(tab)
    with app.app_context():
        moderation.act(db.session.get(User, manager.id), "chat", message_id, "hide", "Spam")
    for tab in (page, other):
        tab.wait_for_selector(f"#m{message_id} >> text=This message was hidden by a moderator.")
        assert tab.locator("text=Cheap watches, click here").count() == 0
    assert page.locator(f"#m{message_id} a", has_text="See it").get_attribute("href") == f"/moderation/chat/{message_id}"
    assert other.locator(f"#m{message_id} a", has_text="See it").count() == 0
    page.locator(f"#m{message_id} a", has_text="See it").click()
    page.wait_for_selector("text=Cheap watches, click here")  # the moderation page shows what was hidden
    assert page_errors == []
