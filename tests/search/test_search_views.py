"""Search pages: results with tabs, facets and escaped highlights; clear messages for unreadable
queries and for a missing index; the similar-posts JSON; saved searches; the header box; a
constant number of queries for the results page."""
from __future__ import annotations

import shutil

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import SavedSearch, Topic, User
from app.search import store
from app.services import search
from app.services.content import posts
from tests.conftest import post as post_form


@pytest.fixture
def site(app, make):
    social = make.user("employee", is_global_manager=True)
    customer = make.user("customer")
    employee = make.user("employee")
    open_c = make.community("open", manager=social, slug="ideas", topics=("Returns",))
    internal = make.community("internal", manager=social, slug="hub", topics=("Warehouse",))
    make.member(open_c, customer)
    with app.app_context():
        author = db.session.get(User, social.id)
        t_open = db.session.scalar(select(Topic.id).where(Topic.community_id == open_c.id))
        t_int = db.session.scalar(select(Topic.id).where(Topic.community_id == internal.id))
        idea = posts.create(author, "ideas", "idea", "Free returns for tents", "Return a **tent** for free.", [t_open])
        xss = posts.create(author, "ideas", "discussion", "<img src=x onerror=alert(1)> tent care",
                           "Dry your tent <script>alert(2)</script> before storing.", [t_open])
        secret = posts.create(author, "hub", "discussion", "Tent stock count", "Internal tent numbers.", [t_int])
        search.sync()
        ids = {"idea": idea.id, "xss": xss.id, "secret": secret.id, "topic": t_open}
    return {"social": social, "customer": customer, "employee": employee, **ids}


def test_results_page_shows_only_readable_results_with_escaped_highlights(site, login_as):
    client = login_as(site["customer"])
    response = client.get("/search?q=tent")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Free returns for <mark>tent</mark>s" in html or "<mark>tents</mark>" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "<img src=x" not in html
    assert "<script>alert(2)" not in html
    assert "Tent stock count" not in html and "stock" not in html.lower().split("search tips")[0][-200:]
    assert 'aria-current="page">All' in html and "Refine" in html
    assert "2 results" in html


def test_tabs_and_facets_are_links_that_narrow_the_results(site, login_as):
    client = login_as(site["employee"])
    html = client.get("/search?q=tent").get_data(as_text=True)
    assert "3 results" in html
    narrowed = client.get(f"/search?q=tent&kind=idea&topic={site['topic']}").get_data(as_text=True)
    assert "1 result<" in narrowed and "(remove this filter)" in narrowed
    assert client.get("/search?q=tent&type=person").status_code == 200


@pytest.mark.parametrize("q", ['"tent', "(tent", "colour:red", "*", "AND", "status:someday", "x" * 500,
                               "community:nowhere"])
def test_unreadable_queries_get_a_message_and_400(site, login_as, q):
    response = login_as(site["customer"]).get("/search", query_string={"q": q})
    assert response.status_code == 400
    assert 'role="alert"' in response.get_data(as_text=True)


@pytest.mark.parametrize("args", ["q=tent&page=abc", "q=tent&page=-4", "q=tent&sort=evil", "q=tent&type=<x>",
                                  "q=tent&community=abc", "q=tent&date=tomorrow", "q=%00", "q=tent&exact=1",
                                  "q=" + "%C3%A9" * 20])
def test_junk_parameters_never_break_the_page(site, login_as, args):
    response = login_as(site["customer"]).get(f"/search?{args}")
    assert response.status_code in (200, 400)


def test_a_missing_index_says_search_is_being_rebuilt(site, app, login_as):
    with app.app_context():
        shutil.rmtree(store.current_dir())
    response = login_as(site["customer"]).get("/search?q=tent")
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert "Search is being rebuilt" in response.get_data(as_text=True)


def test_search_needs_a_signed_in_person(client, site):
    response = client.get("/search?q=tent")
    assert response.status_code == 302 and "/signin" in response.headers["Location"]
    assert client.get("/search/similar?title=tents").status_code in (302, 401)


def test_did_you_mean_links_to_the_corrected_search(site, login_as):
    client = login_as(site["customer"])
    html = client.get("/search?q=tnet").get_data(as_text=True)
    assert "Nothing matched “tnet”" in html and "exact=1" in html
    html = client.get("/search?q=tnet&exact=1").get_data(as_text=True)
    assert "Did you mean" in html and "/search?q=tent" in html


def test_similar_posts_json_offers_a_vote_for_ideas(site, login_as):
    client = login_as(site["customer"])
    data = client.get("/search/similar", query_string={"title": "Returns of tents for free"}).get_json()
    first = data["posts"][0]
    assert first["id"] == site["idea"] and first["kind"] == "idea"
    assert first["vote_url"] == f"/p/{site['idea']}/vote" and first["can_vote"]
    assert all(p["id"] != site["secret"] for p in data["posts"])
    voted = post_form(client, first["vote_url"])
    assert voted.status_code == 302
    with client.application.app_context():
        search.sync()
    again = client.get("/search/similar", query_string={"title": "Returns of tents for free"}).get_json()
    assert again["posts"][0]["voted"] and again["posts"][0]["vote_url"] is None


def test_new_post_form_has_the_similar_box_and_edit_does_not(site, login_as):
    client = login_as(site["social"])
    html = client.get("/c/ideas/new").get_data(as_text=True)
    assert "data-similar=\"/search/similar\"" in html and "js/search.js" in html
    edit = client.get(f"/p/{site['idea']}/edit").get_data(as_text=True)
    assert "data-similar" not in edit


def test_header_has_a_quick_search_box(site, login_as):
    html = login_as(site["customer"]).get("/").get_data(as_text=True)
    assert 'role="search"' in html and 'action="/search"' in html and 'name="q"' in html


def test_saved_searches_pages(site, login_as, app):
    client = login_as(site["customer"])
    response = post_form(client, "/search/saved", {"name": "Tents", "query": "tent", "filters": "kind=idea",
                                                    "scope": "readable", "alerts": "y"})
    assert response.status_code == 302
    html = client.get("/search/saved").get_data(as_text=True)
    assert "Tents" in html and "Alerts on" in html and "kind: idea" in html
    with app.app_context():
        saved = db.session.scalar(select(SavedSearch))
        assert saved.filters == {"kind": "idea"} and saved.alerts
    bad = post_form(client, "/search/saved", {"name": "x", "query": '"tent', "scope": "readable"})
    assert bad.status_code == 400 and "quote is not closed" in bad.get_data(as_text=True)
    managed = post_form(client, "/search/saved", {"name": "x", "query": "tent", "scope": "managed"})
    assert managed.status_code == 400 and "community managers" in managed.get_data(as_text=True)
    edit = post_form(client, f"/search/saved/{saved.id}/edit", {"name": "Tents!", "query": "tents", "scope": "readable"})
    assert edit.status_code == 302
    with app.app_context():
        again = db.session.get(SavedSearch, saved.id)
        assert again.name == "Tents!" and again.alerts is False  # unticked box
    plain = post_form(client, "/search/saved", {"name": "", "query": "boots", "alerts": "y"})  # no scope field
    assert plain.status_code == 302
    other = login_as(site["employee"])
    assert other.get(f"/search/saved/{saved.id}/edit").status_code == 404
    assert post_form(other, f"/search/saved/{saved.id}/delete").status_code == 404
    mine = login_as(site["customer"])
    assert post_form(mine, f"/search/saved/{saved.id}/delete").status_code == 302
    with app.app_context():
        assert db.session.get(SavedSearch, saved.id) is None


def test_search_page_offers_to_save_the_search(site, login_as):
    html = login_as(site["social"]).get("/search?q=tent&kind=idea").get_data(as_text=True)
    assert "Save this search" in html and 'value="kind=idea"' in html
    assert "Only the communities I manage" in html  # the social team manages everywhere


def test_results_page_runs_a_constant_number_of_queries(app, make, login_as, count_queries):
    social = make.user("employee", is_global_manager=True)
    viewer = make.user("customer")
    community = make.community("open", manager=social, slug="many", topics=("A", "B"))
    make.member(community, viewer)
    client = login_as(viewer)

    def add(n):
        with app.app_context():
            author = db.session.get(User, social.id)
            topic = db.session.scalar(select(Topic.id).where(Topic.community_id == community.id))
            for i in range(n):
                posts.create(author, "many", "idea", f"Lantern idea {i}", "lantern", [topic])
            from app.models import Post
            from app.services.content import comments

            latest = db.session.scalar(select(db.func.max(Post.id)))
            for i in range(n // 3):
                comments.add(author, latest, f"lantern comment {i}")
            search.sync()

    add(3)
    client.get("/search?q=lantern&sort=newest")
    with count_queries() as few:
        assert client.get("/search?q=lantern&sort=newest").status_code == 200
    add(15)
    with count_queries() as many:
        html = client.get("/search?q=lantern&sort=newest").get_data(as_text=True)
    assert html.count('class="search-hit card"') == 20 and "Comment on" in html
    assert many.count == few.count


def _save_form(html: str) -> dict:
    """The fields of the page's "Save this search" form, as the browser would send them."""
    import html as html_lib
    import re

    form = re.search(r'<form method="post" action="/search/saved".*?</form>', html, re.S).group(0)
    fields = {}
    for tag in re.findall(r"<input[^>]*>", form):
        name = re.search(r'name="([^"]+)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        kind = re.search(r'type="([^"]+)"', tag)
        if not name or (kind and kind.group(1) in ("checkbox", "radio") and "checked" not in tag):
            continue
        fields[name.group(1)] = html_lib.unescape(value.group(1)) if value else ""
    return fields


def test_saving_a_corrected_search_keeps_what_was_typed_and_the_filters(site, login_as, app):
    client = login_as(site["customer"])
    html = client.get("/search?q=tnet&kind=idea").get_data(as_text=True)
    assert "Nothing matched “tnet”" in html  # the page shows the results for "tent"
    fields = _save_form(html)
    assert fields["query"] == "tnet" and fields["name"] == "tnet" and fields["filters"] == "kind=idea"
    assert client.post("/search/saved", data=fields).status_code == 302
    with app.app_context():
        saved = db.session.scalar(select(SavedSearch))
        assert (saved.query, saved.name, saved.filters) == ("tnet", "tnet", {"kind": "idea"})
    # without a correction, what was typed is what was searched
    fields = _save_form(client.get("/search?q=tent").get_data(as_text=True))
    assert fields["query"] == "tent" and fields["filters"] == ""
