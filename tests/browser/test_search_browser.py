"""Search in a real browser: the header box, results with highlights and facets on desktop and
phone widths, and the similar-posts box while typing a new post's title, with its one-click
"vote for this instead". No script from a post runs, no CSP violation."""
from __future__ import annotations

from app.extensions import db
from app.models import Topic
from app.services import search
from app.services.content import posts


def _seed(app, make):
    manager = make.user("employee", name="Mona Manager", is_global_manager=True)
    community = make.community("open", manager=manager, name="Customer Ideas", topics=("Delivery",))
    customer = make.user("customer", name="Carla Customer")
    make.member(community, customer)
    with app.app_context():
        from app.models import User

        author = db.session.get(User, manager.id)
        topic = db.session.query(Topic.id).filter_by(community_id=community.id).scalar()
        idea = posts.create(author, community.slug, "idea", "Evening delivery slots",
                            "Deliver between 18:00 and 21:00. <img src=x onerror=alert('xss')>", [topic]).id
        for i in range(3):
            posts.create(author, community.slug, "discussion", f"Delivery route planning {i}",
                         "Routes and delivery windows for the vans.", [topic])
        search.sync()
    return community, customer, idea


def test_search_page_and_header_box(live_server, page, page_errors, sign_in, make, app):
    community, customer, _idea = _seed(app, make)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    sign_in(page, customer)
    page.get_by_role("searchbox", name="Search Kring").fill("delivery")
    with page.expect_navigation():
        page.get_by_role("searchbox", name="Search Kring").press("Enter")
    assert "/search?q=delivery" in page.url
    main = page.locator("main")
    assert "5 results" in main.inner_text()  # four posts and the topic
    assert page.locator("mark").first.inner_text().lower().startswith("deliver")
    page.get_by_role("link", name="Idea", exact=True).click()
    assert "1 result" in main.inner_text()
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert dialogs == [] and page_errors == []


def test_similar_posts_while_typing_a_title(live_server, page, page_errors, sign_in, make, app):
    community, customer, idea = _seed(app, make)
    sign_in(page, customer)
    page.goto(f"{live_server}/c/{community.slug}/new?kind=idea")
    box = page.locator("section.similar-posts")
    assert box.is_hidden()
    page.get_by_label("Title").fill("Delivery in the evening")
    box.wait_for(state="visible")
    assert "Evening delivery slots" in box.inner_text()
    with page.expect_navigation():
        box.get_by_role("button", name="Vote for this instead").first.click()
    assert page.url.endswith(f"/p/{idea}#idea") or f"/p/{idea}" in page.url
    assert "your vote counts" in page.locator("main").inner_text()
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert page_errors == []
