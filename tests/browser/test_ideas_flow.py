"""The customer's voice, answered, in a real browser: a customer posts an idea, a community
manager marks it planned with an official response, and the customer sees the answer. Script
in the idea's text never runs."""
from __future__ import annotations

import re


def test_customer_idea_gets_an_official_response(live_server, browser, page, page_errors, sign_in, make):
    manager = make.user("employee", name="Mona Manager", is_global_manager=True)
    community = make.community("open", manager=manager, name="Customer Ideas", topics=("Delivery",))
    customer = make.user("customer", name="Carla Customer")
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

    # the customer writes the idea through the form
    sign_in(page, customer)
    page.goto(f"{live_server}/c/{community.slug}/new?kind=idea")
    page.get_by_label("Title").fill("Evening delivery slots")
    page.get_by_label("Text", exact=True).fill(
        "Deliver between 18:00 and 21:00 please. <img src=x onerror=alert('xss')> [click](javascript:alert(1))")
    page.get_by_label("Delivery").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Post", exact=True).click()
    assert page.get_by_role("heading", name="Evening delivery slots").is_visible()
    post_url = page.url
    assert re.search(r"/p/\d+$", post_url)

    # the manager answers officially, in another browser context
    context = browser.new_context()
    manager_page = context.new_page()
    try:
        sign_in(manager_page, manager)
        manager_page.goto(post_url)
        manager_page.get_by_text("Change the status and respond officially").click()
        manager_page.get_by_label("New status").select_option("planned")
        manager_page.get_by_label("Official response").fill("Good idea: evening slots start in March.")
        with manager_page.expect_navigation():
            manager_page.get_by_role("button", name="Publish the response").click()
    finally:
        context.close()

    # the customer sees the new status and the response
    page.goto(post_url)
    body = page.locator("main").inner_text()
    assert "Planned" in body
    assert "Good idea: evening slots start in March." in body
    assert "Mona Manager" in body
    assert dialogs == [], "a script from the idea's text ran"
    assert page_errors == []
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
