"""Two people on the same post page in two browsers: when one accepts an answer or votes for
an idea, the other's open page shows the accepted answer, the new count and the voter
breakdown without a reload."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Topic, User
from app.services.content import comments, posts


@pytest.fixture
def other_context(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    try:
        yield context
    finally:
        context.close()


def _open_and_mark(tab, url: str) -> None:
    """Open `url`, wait for the live connection, and mark the document: the mark is gone if
    the page is ever reloaded."""
    tab.goto(url)
    tab.wait_for_function("() => window.kringLive && window.kringLive.socket.connected")
    tab.evaluate("() => { window.notReloaded = true; }")


def _still_the_same_page(tab) -> bool:
    return tab.evaluate("() => window.notReloaded === true")


def test_an_accepted_answer_and_a_vote_show_up_on_the_other_open_page(
        app, make, live_server, page, page_errors, other_context, sign_in):
    manager = make.user("employee", name="Mona Manager", is_global_manager=True)
    community = make.community("open", manager=manager, topics=("Gear",))
    asker = make.user("customer", name="Carl Customer", organisation="Camp Co")
    make.member(community, asker)
    with app.app_context():
        topic = db.session.scalar(select(Topic.id).where(Topic.community_id == community.id))
        author = db.session.get(User, manager.id)
        question = posts.create(db.session.get(User, asker.id), community.slug, "question",
                                "Which tent for two?", "For the Alps.", [topic])
        answer_id = comments.add(author, question.id, "The Trail 2 is light and sturdy.").id
        idea_id = posts.create(author, community.slug, "idea", "Rent tents at the shop", "Try before you buy.",
                               [topic]).id
        question_id = question.id
    watcher = other_context.new_page()
    sign_in(watcher, manager)
    _open_and_mark(watcher, f"{live_server}/p/{question_id}")
    assert watcher.locator(f"#c{answer_id} .accepted-label").count() == 0

    # the asker accepts the answer on their own page (a plain form post)
    sign_in(page, asker)
    page.goto(f"{live_server}/p/{question_id}")
    page.locator(f"#c{answer_id}").get_by_role("button", name="Accept this answer").click()
    page.wait_for_selector(f"#c{answer_id} .accepted-label")
    # the manager's open page shows it, and the button to withdraw it, without a reload
    watcher.wait_for_selector(f"#c{answer_id} .accepted-label")
    watcher.locator(f"#c{answer_id}").get_by_role("button", name="Withdraw acceptance").wait_for()
    assert _still_the_same_page(watcher)

    # the asker votes for the idea: the manager's open idea page shows the count and the breakdown
    _open_and_mark(watcher, f"{live_server}/p/{idea_id}")
    assert watcher.locator("#idea .vote-total strong").inner_text() == "0"
    page.goto(f"{live_server}/p/{idea_id}")
    page.locator("#idea .vote-button").click()
    page.wait_for_selector('#idea .vote-button[aria-pressed="true"]')
    watcher.wait_for_function("() => document.querySelector('#idea .vote-total strong').textContent === '1'")
    watcher.wait_for_selector("#idea .vote-segments >> text=1 customer")
    assert "Camp Co (1)" in watcher.locator("#idea .vote-segments").inner_text()
    assert _still_the_same_page(watcher)
    assert page_errors == []
