"""Asking someone to answer: who may be asked, the notification (once, only to people who may read
the post), the list on the post page with who answered, one-click asks of the topic's experts,
and the form's errors."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.errors import ValidationError
from app.extensions import db
from app.models import AnswerRequest, Community, Topic
from app.services import moderation
from app.services.content import asks, comments, posts
from app.services.experts import experts
from app.services.people import privacy
from tests.conftest import PASSWORD
from tests.conftest import post as post_form
from tests.helpers import fresh, notes_of


@pytest.fixture
def world(ctx, make):
    manager = make.user("employee", name="Mona Manager")
    shop = make.community("open", manager=manager, name="Shop Help", slug="shop", topics=("Returns",))
    internal = make.community("internal", manager=manager, name="Warehouse", slug="warehouse", topics=("Stock",))
    carla = fresh(make.user("customer", name="Carla Customer"))
    make.member(shop, carla)
    anna = fresh(make.user("employee", name="Anna Answer"))
    ben = fresh(make.user("employee", name="Ben Busy"))
    for colleague in (anna, ben):
        make.member(shop, colleague)  # so Carla may see them in the directory
    outsider = fresh(make.user("customer", name="Olga Outsider"))  # shares no community with Carla
    shop = db.session.get(Community, shop.id)
    internal = db.session.get(Community, internal.id)
    returns = db.session.scalar(select(Topic).where(Topic.community_id == shop.id))
    stock = db.session.scalar(select(Topic).where(Topic.community_id == internal.id))
    question = posts.create(carla, shop.slug, "question", "Where do I send a return?", "Body", [returns.id])
    idea = posts.create(anna, shop.slug, "idea", "Free return labels", "Body", [returns.id])
    secret = posts.create(anna, internal.slug, "discussion", "Stock count in May", "Body", [stock.id])
    return {"manager": fresh(manager), "carla": carla, "anna": anna, "ben": ben, "outsider": outsider,
            "question": question, "idea": idea, "secret": secret, "shop": shop}


def test_asking_notifies_the_person_once_with_words_for_the_kind(world):
    w = world
    asks.ask(w["carla"], w["question"].id, "@" + w["anna"].handle.upper())  # the @ and the case do not matter
    asks.ask(w["carla"], w["idea"].id, w["ben"].handle)
    [note] = notes_of(w["anna"], "ask")
    assert note.post_id == w["question"].id and note.actor_id == w["carla"].id
    assert note.text == "Carla Customer asks you to answer: Where do I send a return?"
    assert notes_of(w["ben"], "ask")[0].text == "Carla Customer asks for your view on: Free return labels"
    with pytest.raises(ValidationError, match="Anna Answer was already asked"):
        asks.ask(fresh(w["manager"]), w["question"].id, w["anna"].handle)  # by anyone: once per post
    db.session.rollback()
    assert len(notes_of(w["anna"], "ask")) == 1


@pytest.mark.parametrize("who, message", [
    ("", "Name the person to ask"),
    ("nobody.here", "Nobody called @nobody.here was found"),
    ("carla", "You cannot ask yourself"),
])
def test_bad_names_get_a_clear_error_and_store_nothing(world, who, message):
    handle = world["carla"].handle if who == "carla" else who
    with pytest.raises(ValidationError, match=message) as err:
        asks.ask(world["carla"], world["idea"].id, handle)
    assert "person" in err.value.errors
    db.session.rollback()
    assert db.session.scalar(select(AnswerRequest.id)) is None


def test_nobody_is_asked_who_may_not_read_the_post_or_whom_the_asker_may_not_see(world):
    w = world
    with pytest.raises(ValidationError, match="Anna Answer wrote this post"):
        asks.ask(w["ben"], w["idea"].id, w["anna"].handle)
    with pytest.raises(ValidationError, match="may not read this post"):
        asks.ask(w["ben"], w["secret"].id, w["carla"].handle)  # an internal community
    with pytest.raises(ValidationError, match="Nobody called"):
        asks.ask(w["carla"], w["question"].id, w["outsider"].handle)  # not in Carla's directory
    db.session.rollback()
    assert db.session.scalar(select(AnswerRequest.id)) is None and notes_of(w["carla"], "ask") == []


def test_a_locked_post_takes_no_asks_and_an_asker_has_a_limit(world, monkeypatch):
    w = world
    moderation.act(w["manager"], "post", w["idea"].id, "lock", "Decided")
    with pytest.raises(ValidationError, match="locked"):
        asks.ask(w["carla"], w["idea"].id, w["ben"].handle)
    db.session.rollback()
    monkeypatch.setattr(asks, "ASKS_PER_POST", 1)
    asks.ask(w["carla"], w["question"].id, w["anna"].handle)
    with pytest.raises(ValidationError, match="You have asked 1 people on this post already"):
        asks.ask(w["carla"], w["question"].id, w["ben"].handle)


def test_the_list_shows_who_was_asked_by_whom_and_who_answered(world):
    w = world
    asks.ask(w["carla"], w["question"].id, w["anna"].handle)
    asks.ask(fresh(w["manager"]), w["question"].id, w["ben"].handle)
    comments.add(fresh(w["anna"]), w["question"].id, "Use the label in the box")
    hidden = comments.add(fresh(w["ben"]), w["question"].id, "Buy my labels")
    moderation.act(fresh(w["manager"]), "comment", hidden.id, "hide", "Spam")
    rows = asks.asked_on(w["carla"], w["question"])
    assert [(r.person.display_name, r.asker.display_name, r.answered) for r in rows] == [
        ("Anna Answer", "Carla Customer", True), ("Ben Busy", "Mona Manager", False)]  # a hidden comment is no answer


def test_experts_of_the_topic_are_suggested_until_asked(world):
    w = world
    experts.assign(fresh(w["manager"]), "shop", "returns", fresh(w["ben"]))
    experts.assign(fresh(w["manager"]), "shop", "returns", fresh(w["anna"]))
    names = [s.person.display_name for s in asks.suggestions(w["carla"], w["question"])]
    assert names == ["Anna Answer", "Ben Busy"]
    assert asks.suggestions(w["carla"], w["question"])[0].topics == ["Returns"]
    assert [s.person.display_name for s in asks.suggestions(fresh(w["ben"]), w["idea"])] == []  # Anna wrote it
    asks.ask(w["carla"], w["question"].id, w["anna"].handle)
    assert [s.person.display_name for s in asks.suggestions(w["carla"], w["question"])] == ["Ben Busy"]


def test_closing_an_account_drops_the_asks_waiting_on_it(world):
    w = world
    asks.ask(w["carla"], w["question"].id, w["anna"].handle)
    asks.ask(w["anna"], w["question"].id, w["ben"].handle)
    privacy.close_account(fresh(w["anna"]), fresh(w["anna"]), "anonymise", password=PASSWORD)
    rows = asks.asked_on(fresh(w["carla"]), w["question"])
    assert [(r.person.display_name, r.asker) for r in rows] == [("Ben Busy", None)]  # asked by a closed account


# --- the doors ----------------------------------------------------------------------------

@pytest.fixture
def site(app, make):
    manager = make.user("employee", name="Mona Manager", is_global_manager=True)
    community = make.community("open", manager=manager, name="Shop Help", slug="shop", topics=("Returns",))
    asker = make.user("customer", name="Carla Customer")
    make.member(community, asker)
    helpers = [make.user("employee", name=f"Helper {n}") for n in range(6)]
    for helper in helpers:
        make.member(community, helper)
    with app.app_context():
        topic = db.session.scalar(select(Topic).where(Topic.community_id == community.id))
        question = posts.create(fresh(asker), "shop", "question", "Where do I send a return?", "Body", [topic.id])
        for helper in helpers[:5]:
            experts.assign(fresh(manager), "shop", "returns", fresh(helper))
        return {"asker": asker, "helpers": helpers, "qid": question.id, "manager": manager}


def test_the_form_asks_and_the_page_lists_the_person(site, login_as):
    client = login_as(site["asker"])
    page = client.get(f"/p/{site['qid']}").get_data(as_text=True)
    assert "Ask someone to answer" in page and "Know who could answer? Ask them" in page
    assert page.count(">Ask Helper") == 4  # the topic's experts, four at most, one click each
    helper = site["helpers"][5]
    done = post_form(client, f"/p/{site['qid']}/ask", {"person": "@" + helper.handle})
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/p/{site['qid']}#asked")
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    assert f"You asked {helper.display_name} to answer." in page
    assert "Asked to answer" in page and "asked by you" in page


def test_a_mistake_keeps_the_name_and_says_what_is_wrong(site, login_as):
    client = login_as(site["asker"])
    response = post_form(client, f"/p/{site['qid']}/ask", {"person": "@no.such.person"})
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Nobody called @no.such.person was found." in html and 'value="@no.such.person"' in html
    assert 'aria-invalid="true"' in html


def test_the_post_page_runs_the_same_queries_however_many_were_asked(app, site, make, login_as, count_queries):
    reader = make.user("employee")
    with app.app_context():
        topic = db.session.scalar(select(Topic).where(Topic.name == "Returns"))
        other = posts.create(fresh(site["asker"]), "shop", "question", "Another question", "Body", [topic.id]).id
        asks.ask(fresh(site["asker"]), site["qid"], site["helpers"][0].handle)
        for helper in site["helpers"][1:]:
            asks.ask(fresh(site["asker"]), other, helper.handle)
    client = login_as(reader)
    counts = []
    for pid in (site["qid"], other):
        client.get(f"/p/{pid}")
        with count_queries() as q:
            html = client.get(f"/p/{pid}").get_data(as_text=True)
        counts.append(q.count)
        assert "asked by Carla Customer" in html
    assert counts[0] == counts[1]


def test_asking_on_a_locked_post_explains_why_on_the_page(app, site, login_as):
    with app.app_context():
        moderation.act(fresh(site["manager"]), "post", site["qid"], "lock", "Answered elsewhere")
    client = login_as(site["asker"])
    page = client.get(f"/p/{site['qid']}").get_data(as_text=True)
    assert "Know who could answer" not in page  # no form on a locked post
    response = post_form(client, f"/p/{site['qid']}/ask", {"person": site["helpers"][0].handle})
    assert response.status_code == 302
    assert "This post is locked" in client.get(response.headers["Location"]).get_data(as_text=True)


def test_the_person_asked_sees_who_asked_them_until_they_answer(app, site, login_as):
    helper = site["helpers"][0]
    with app.app_context():
        asks.ask(fresh(site["asker"]), site["qid"], helper.handle)
    client = login_as(helper)
    page = client.get(f"/p/{site['qid']}").get_data(as_text=True)
    assert 'Carla Customer asked you to answer this question. <a href="#comment-form">Write your answer</a>' in page
    post_form(client, f"/p/{site['qid']}/comments", {"body": "Send it to the warehouse in Utrecht."})
    page = client.get(f"/p/{site['qid']}").get_data(as_text=True)
    assert "asked you to answer" not in page and "Answered" in page


def test_the_home_page_lists_what_one_was_asked_to_answer_until_answered(app, site, login_as):
    helper, other = site["helpers"][0], site["helpers"][1]
    with app.app_context():
        asks.ask(fresh(site["asker"]), site["qid"], helper.handle)
        asks.ask(fresh(site["asker"]), site["qid"], other.handle)
        waiting = asks.waiting_for(fresh(helper))
        assert [(w.post.id, w.asker.display_name) for w in waiting] == [(site["qid"], "Carla Customer")]
    client = login_as(helper)
    home = client.get("/").get_data(as_text=True)
    assert "Asked to answer" in home and "Where do I send a return?" in home
    post_form(client, f"/p/{site['qid']}/comments", {"body": "Send it to the warehouse in Utrecht."})
    assert "Asked to answer" not in client.get("/").get_data(as_text=True)  # answered
    with app.app_context():
        assert asks.waiting_for(fresh(helper)) == [] and len(asks.waiting_for(fresh(other))) == 1
        moderation.act(fresh(site["manager"]), "post", site["qid"], "lock", "Closed")
        assert asks.waiting_for(fresh(other)) == []  # a locked post takes no answers
