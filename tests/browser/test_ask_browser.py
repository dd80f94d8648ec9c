"""Asking someone to answer, in Chromium: a customer asks the topic's expert with one click and
a colleague by @name from the keyboard; the expert's open page shows the notification live."""
from __future__ import annotations

from app.extensions import db
from app.models import Topic, User
from app.services.content import posts
from app.services.experts import experts


def test_a_customer_asks_an_expert_and_a_colleague_and_the_expert_hears_of_it_live(
        app, make, live_server, browser, page, page_errors, sign_in):
    from sqlalchemy import select

    manager = make.user("employee", name="Mona Manager")
    community = make.community("open", manager=manager, name="Shop Help", slug="shop", topics=("Returns",))
    customer, expert, colleague = (make.user("customer", name="Carla Customer"),
                                   make.user("employee", name="Erik Expert"), make.user("employee", name="Cora Colleague"))
    for person in (customer, expert, colleague):
        make.member(community, person)
    with app.app_context():
        topic = db.session.scalar(select(Topic).where(Topic.community_id == community.id))
        experts.assign(db.session.get(User, manager.id), "shop", "returns", db.session.get(User, expert.id))
        post_id = posts.create(db.session.get(User, customer.id), "shop", "question", "Where do I send a return?",
                               "I have the box ready.", [topic.id]).id

    context = browser.new_context()
    expert_page = context.new_page()
    try:
        sign_in(expert_page, expert)
        expert_page.goto(f"{live_server}/notifications")
        expert_page.wait_for_function("() => window.kringLive && window.kringLive.socket.connected")
        before = expert_page.locator("main").inner_text()

        sign_in(page, customer)
        page.goto(f"{live_server}/p/{post_id}")
        with page.expect_navigation():
            page.get_by_role("button", name="Ask Erik Expert").click()
        assert page.get_by_text("You asked Erik Expert to answer.").is_visible()
        page.get_by_label("Know who could answer? Ask them").fill("@" + colleague.handle)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        asked = page.locator("#asked").inner_text()
        assert "Erik Expert" in asked and "Cora Colleague" in asked and "asked by you" in asked
        assert page.get_by_role("button", name="Ask Erik Expert").count() == 0  # asked once

        expert_page.wait_for_selector("text=Carla Customer asks you to answer: Where do I send a return?")
        assert "asks you to answer" not in before
    finally:
        context.close()
    assert page_errors == []
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
