"""Ideas: the vote toggle and its refusals, the voters list, the status workflow with official
responses, merging duplicates, the notifications it sends, and the idea pages."""
from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from app import clock
from app.errors import Forbidden, NotFound, ValidationError
from app.extensions import db
from app.models import Community, Follow, Post, StatusChange, User, Vote
from app.services import access
from app.services.community import communities, follows
from app.services.content import ideas, posts
from app.services.platform import jobs
from tests.conftest import post as post_form
from tests.helpers import fresh, notes_of


@pytest.fixture
def world(ctx, make):
    manager = make.user("employee")  # a plain employee who manages this one community
    community = make.community("open", manager=manager)
    member = make.user("customer")
    make.member(community, member)
    return {"manager": fresh(manager), "community": db.session.get(Community, community.id),
            "member": fresh(member), "reader": fresh(make.user("employee"))}


# --- votes --------------------------------------------------------------------------------

def test_vote_toggles_and_counts_once_per_person(world, make):
    idea = make.idea(world["member"], world["community"])
    hot_before = idea.hot
    assert ideas.toggle_vote(world["reader"], idea.id) == (True, 1)
    assert ideas.toggle_vote(world["member"], idea.id) == (True, 2)  # the author may vote too
    assert db.session.get(Post, idea.id).hot > hot_before
    assert ideas.toggle_vote(world["reader"], idea.id) == (False, 1)  # second click takes it back
    assert ideas.toggle_vote(world["reader"], idea.id) == (True, 2)
    assert db.session.scalar(select(Post.vote_count).where(Post.id == idea.id)) == 2
    assert len(db.session.scalars(select(Vote).where(Vote.post_id == idea.id)).all()) == 2


def test_a_racing_second_vote_does_not_double_count(world, monkeypatch, make):
    """The other click's row is already there when this one inserts: the primary key refuses
    it, the count stays right and the answer is simply 'voted'."""
    idea = make.idea(world["member"], world["community"])
    ideas.toggle_vote(world["reader"], idea.id)
    real_scalar = db.session.scalar

    def blind_check(stmt, *a, **kw):  # the existence check ran before the other click committed
        if "FROM votes" in str(stmt):
            return None
        return real_scalar(stmt, *a, **kw)

    monkeypatch.setattr(db.session, "scalar", blind_check)
    assert ideas.toggle_vote(world["reader"], idea.id) == (True, 1)
    monkeypatch.undo()
    assert db.session.scalar(select(Post.vote_count).where(Post.id == idea.id)) == 1


@pytest.mark.parametrize("kind", ["question", "discussion"])
def test_only_ideas_take_votes(world, kind, make):
    post = make.idea(world["member"], world["community"], title="Not an idea at all", kind=kind)
    with pytest.raises(ValidationError) as err:
        ideas.toggle_vote(world["reader"], post.id)
    assert "Only ideas take votes" in err.value.message


def test_no_votes_on_deleted_merged_done_or_declined_ideas(world, make):
    c, m = world["community"], world["manager"]
    deleted = make.idea(world["member"], c, title="Deleted idea here")
    posts.delete(world["member"], deleted.id)
    with pytest.raises(ValidationError, match="deleted"):
        ideas.toggle_vote(world["member"], deleted.id)  # the author still sees it
    with pytest.raises(NotFound):
        ideas.toggle_vote(world["reader"], deleted.id)  # others do not
    for status, words in (("done", "this idea is done"), ("declined", "was declined")):
        idea = make.idea(world["member"], c, title=f"An idea to be {status}")
        ideas.change_status(m, idea.id, status, "Thanks!")
        with pytest.raises(ValidationError, match=words):
            ideas.toggle_vote(world["reader"], idea.id)
    target = make.idea(world["member"], c, title="The original idea")
    dup = make.idea(world["member"], c, title="The copy of the idea")
    ideas.change_status(m, dup.id, "duplicate", "Same as the original.", target.id)
    with pytest.raises(ValidationError, match="merged"):
        ideas.toggle_vote(world["reader"], dup.id)


def test_people_who_cannot_read_cannot_vote(world, make):
    secret = make.community("private", manager=world["manager"])
    idea = make.idea(world["manager"], db.session.get(Community, secret.id), title="Secret idea here")
    with pytest.raises(NotFound):
        ideas.toggle_vote(world["reader"], idea.id)


def test_voters_only_for_staff_newest_first(world, make):
    idea = make.idea(world["member"], world["community"])
    first, second = world["reader"], fresh(make.user("employee", name="Second Voter"))
    clock.set_now(datetime(2026, 3, 1, 9))
    ideas.toggle_vote(first, idea.id)
    clock.set_now(datetime(2026, 3, 1, 10))
    ideas.toggle_vote(second, idea.id)
    clock.reset()
    with pytest.raises(Forbidden):
        ideas.voters(world["member"], idea.id)
    result = ideas.voters(world["manager"], idea.id)
    assert result.total == 2 and [v.user.id for v in result.voters] == [second.id, first.id]


def test_external_expert_does_not_learn_names_outside_their_communities(world, make, monkeypatch):
    """Partners may become a topic's experts (who respond officially and see voters); they
    still only see the names of people they share a community with."""
    from app.services.access import experts as expert_rules

    moderator = fresh(make.user("partner"))
    make.member(world["community"], moderator)
    monkeypatch.setattr(expert_rules, "is_expert_for", lambda user, post: user.id == moderator.id)
    idea = make.idea(world["member"], world["community"])
    ideas.toggle_vote(world["reader"], idea.id)  # an employee who is in no community with them
    ideas.toggle_vote(world["member"], idea.id)  # a fellow member
    shown = {v.user.id if v.user else None for v in ideas.voters(moderator, idea.id).voters}
    assert shown == {world["member"].id, None}


# --- status -------------------------------------------------------------------------------

def test_member_cannot_change_status_manager_can(world, make):
    idea = make.idea(world["member"], world["community"])
    with pytest.raises(Forbidden):
        ideas.change_status(world["member"], idea.id, "planned", "I plan it myself")
    change = ideas.change_status(world["manager"], idea.id, "planned", "We build it in **May**. <script>x()</script>")
    post = db.session.get(Post, idea.id)
    assert post.status == "planned" and post.first_official_response_at is not None
    assert (change.from_status, change.to_status, change.actor_id) == ("new", "planned", world["manager"].id)
    assert "<strong>May</strong>" in change.response_html and "script" not in change.response_html


def test_staff_from_the_social_team_may_respond_too(world, make):
    staff = fresh(make.user("employee", is_global_manager=True))
    idea = make.idea(world["member"], world["community"])
    assert ideas.change_status(staff, idea.id, "under_review", "Looking at it").to_status == "under_review"


@pytest.mark.parametrize("status,response,field", [
    ("planned", "", "response"),
    ("planned", "   \n ", "response"),
    ("planned", "x" * 5001, "response"),
    ("emperor", "Fine", "status"),
    ("new", "Back to new", "status"),
    ("duplicate", "Same", "duplicate_of"),
])
def test_bad_status_changes_get_field_errors_and_change_nothing(world, status, response, field, make):
    idea = make.idea(world["member"], world["community"])
    with pytest.raises(ValidationError) as err:
        ideas.change_status(world["manager"], idea.id, status, response)
    assert field in err.value.errors
    db.session.rollback()
    assert db.session.get(Post, idea.id).status == "new"
    assert db.session.scalar(select(StatusChange.id)) is None


def test_questions_have_no_status(world, make):
    q = make.idea(world["member"], world["community"], title="Where is my parcel?", kind="question")
    with pytest.raises(ValidationError, match="Only ideas have a status"):
        ideas.change_status(world["manager"], q.id, "planned", "Hm")


def test_transitions_forward_declined_and_reopening(world, make):
    m = world["manager"]
    idea = make.idea(world["member"], world["community"])
    ideas.change_status(m, idea.id, "planned", "Planned for spring")  # skipping under review is fine
    with pytest.raises(ValidationError, match="not back to “Under review”"):
        ideas.change_status(m, idea.id, "under_review", "Hm, maybe not")
    with pytest.raises(ValidationError, match="already “Planned”"):
        ideas.change_status(m, idea.id, "planned", "Still planned")
    ideas.change_status(m, idea.id, "in_progress", "Started")
    ideas.change_status(m, idea.id, "done", "Shipped")
    with pytest.raises(ValidationError):
        ideas.change_status(m, idea.id, "planned", "Again")
    ideas.change_status(m, idea.id, "under_review", "Customers report it broke; re-opening")
    ideas.change_status(m, idea.id, "declined", "We stop here")
    history = db.session.scalars(select(StatusChange.to_status).where(StatusChange.post_id == idea.id)
                                 .order_by(StatusChange.id)).all()
    assert history == ["planned", "in_progress", "done", "under_review", "declined"]
    assert ideas.next_statuses(db.session.get(Post, idea.id).status) == ["under_review"]


def test_first_official_response_is_recorded_once(world, make):
    idea = make.idea(world["member"], world["community"])
    clock.set_now(datetime(2026, 4, 1, 8))
    ideas.change_status(world["manager"], idea.id, "under_review", "Looking")
    clock.set_now(datetime(2026, 4, 9, 8))
    ideas.change_status(world["manager"], idea.id, "planned", "Planned")
    clock.reset()
    assert db.session.get(Post, idea.id).first_official_response_at == datetime(2026, 4, 1, 8)


# --- duplicates ---------------------------------------------------------------------------

def test_merge_moves_votes_without_double_counting_and_followers(world, make):
    c, m = world["community"], world["manager"]
    target = make.idea(world["member"], c, title="Original: bigger tents")
    dup = make.idea(world["reader"], c, title="Copy: larger tents")
    a, b, both = (fresh(make.user("employee")) for _ in range(3))
    for voter in (a, both):
        ideas.toggle_vote(voter, dup.id)
    for voter in (b, both):
        ideas.toggle_vote(voter, target.id)
    follows.follow(a, "post", dup.id)
    follows.follow(both, "post", dup.id)
    follows.follow(both, "post", target.id)
    ideas.change_status(m, dup.id, "duplicate", "Same as the original.", f"https://kring.example/p/{target.id}")
    dup, target = db.session.get(Post, dup.id), db.session.get(Post, target.id)
    assert (dup.status, dup.duplicate_of_id, dup.vote_count) == ("duplicate", target.id, 0)
    assert target.vote_count == 3
    assert set(db.session.scalars(select(Vote.user_id).where(Vote.post_id == target.id))) == {a.id, b.id, both.id}
    followers = db.session.scalars(select(Follow.user_id).where(Follow.target_type == "post", Follow.target_id == target.id)).all()
    assert sorted(followers) == sorted([world["member"].id, world["reader"].id, a.id, both.id])  # each once
    assert not db.session.scalars(select(Follow).where(Follow.target_type == "post", Follow.target_id == dup.id)).all()
    with pytest.raises(ValidationError, match="merged into"):
        ideas.change_status(m, dup.id, "under_review", "Un-merge?")


def test_merge_target_rules(world, make):
    c, m = world["community"], world["manager"]
    idea = make.idea(world["member"], c, title="The idea to merge")
    question = make.idea(world["member"], c, title="A question not idea", kind="question")
    first, second = make.idea(world["member"], c, title="First original"), make.idea(world["member"], c, title="Second copy")
    ideas.change_status(m, second.id, "duplicate", "Same", first.id)
    elsewhere = make.idea(m, db.session.get(Community, make.community("open", manager=m).id), title="Idea elsewhere")
    cases = [(idea.id, "cannot duplicate itself"), ("/p/999999", "no idea #999999"),
             (f"/p/{elsewhere.id}", "same community"), (question.id, "not an idea"),
             (f"#{second.id}", f"merge into #{first.id} instead"), ("tents", "number or its address")]
    for ref, words in cases:
        with pytest.raises(ValidationError) as err:
            ideas.change_status(m, idea.id, "duplicate", "Same", ref)
        assert words in err.value.errors["duplicate_of"], ref
        db.session.rollback()


def test_merged_duplicates_leave_lists_and_feeds(ctx, make):
    """A merged idea is reachable by its address (a redirect) but listed nowhere: not on the
    community page in any sort, not on its topic, not in the home feed; so nothing shows twice.
    Only the explicit "Duplicate" status filter lists it."""
    manager = make.user("employee")
    c = make.community("open", manager=manager, topics=("Tents",))
    member = make.user("customer")
    make.member(c, member)
    c, author = db.session.get(Community, c.id), fresh(member)
    topic = c.topics[0]
    target = posts.create(author, c.slug, "idea", "Original: bigger tents", "Room", [topic.id])
    other = posts.create(author, c.slug, "discussion", "Camping stories", "Tell us", [topic.id])
    dup = posts.create(author, c.slug, "idea", "Copy: larger tents", "Room", [topic.id])
    ideas.toggle_vote(author, dup.id)
    ideas.change_status(fresh(manager), dup.id, "duplicate", "Same as the original.", target.id)
    listed = {target.id, other.id}

    def ids(page):
        return [row.post.id for row in page.rows]

    for viewer in (author, fresh(manager)):  # moderators' lists leave it out too
        acc = access.access_to(viewer, c)
        for sort in posts.SORTS:
            seen, cursor = [], None
            while True:  # one post a page: the keyset pages neither skip nor repeat
                page = posts.community_page(viewer, acc, sort=sort, cursor=cursor, limit=1)
                seen += ids(page)
                if not (cursor := page.next_cursor):
                    break
            assert sorted(seen) == sorted(listed), sort
        assert set(ids(posts.community_page(viewer, acc, topic=topic))) == listed
        assert ids(posts.community_page(viewer, acc, kind="idea")) == [target.id]
        assert ids(posts.community_page(viewer, acc, status="duplicate")) == [dup.id]  # asked for
    assert set(ids(posts.home_feed(author))) == listed
    assert db.session.get(Post, target.id).vote_count == 1  # the vote moved, counted once


def test_merged_duplicate_is_missing_from_the_pages_but_its_address_works(site, login_as, app, make):
    with app.app_context():
        target = make.idea(db.session.get(User, site["member"].id), db.session.get(Community, site["community"].id), title="The original tents idea").id
        ideas.change_status(db.session.get(User, site["manager"].id), site["idea"], "duplicate", "Same idea", target)
        slug = db.session.get(Community, site["community"].id).slug
    member = login_as(site["member"])
    for url in (f"/c/{slug}", f"/c/{slug}?sort=new", "/", "/feed"):
        html = member.get(url).get_data(as_text=True)
        assert "The original tents idea" in html and "Bigger tents please" not in html, url
    assert "Bigger tents please" in member.get(f"/c/{slug}?status=duplicate").get_data(as_text=True)
    resp = member.get(f"/p/{site['idea']}")
    assert resp.status_code == 301 and resp.headers["Location"].endswith(f"/p/{target}")


@pytest.mark.parametrize("text,number", [("42", 42), ("#42", 42), ("/p/42", 42), ("/p/42#c7", 42),
                                         ("https://kring.example/p/42", 42), ("/c/x/42", None), ("", None),
                                         ("0", None), ("p42", None)])
def test_post_references(text, number):
    assert ideas.parse_post_ref(text) == number


# --- notifications ------------------------------------------------------------------------

def test_status_change_notifies_voters_and_followers_not_the_actor(world, make):
    idea = make.idea(world["member"], world["community"], title="Cheaper shipping")
    voter, follower = world["reader"], fresh(make.user("partner"))
    ideas.toggle_vote(voter, idea.id)
    ideas.toggle_vote(world["manager"], idea.id)
    follows.follow(follower, "post", idea.id)
    jobs.drain()
    ideas.change_status(world["manager"], idea.id, "planned", "We will *lower* prices in the summer. " * 10)
    jobs.drain()
    for person in (voter, follower, world["member"]):  # the author follows their own idea
        [note] = notes_of(person, "status")
        assert note.text.startswith("Planned: Cheaper shipping — We will lower prices in the summer.")
        assert note.text.endswith("…") and len(note.text) < 170
    assert notes_of(world["manager"], "status") == []


def test_merge_notifies_the_duplicates_voters(world, make):
    c = world["community"]
    target, dup = make.idea(world["member"], c, title="Original idea here"), make.idea(world["member"], c, title="Duplicate idea here")
    voter = world["reader"]
    ideas.toggle_vote(voter, dup.id)
    ideas.change_status(world["manager"], dup.id, "duplicate", "Same thing.", target.id)
    jobs.drain()
    [note] = notes_of(voter, "status")
    assert note.post_id == dup.id and "merged into “Original idea here”" in note.text


def test_no_notification_for_someone_who_can_no_longer_read(world, make):
    secret = make.community("private", manager=world["manager"])
    secret = db.session.get(Community, secret.id)
    insider = fresh(make.user("customer"))
    make.member(secret, insider)
    idea = make.idea(world["manager"], secret, title="Private idea here")
    ideas.toggle_vote(insider, idea.id)
    communities.remove_member(world["manager"], secret.slug, insider.id)
    ideas.change_status(world["manager"], idea.id, "planned", "Planned")
    jobs.drain()
    assert notes_of(insider, "status") == []


def test_status_notifications_respect_preferences(world, make):
    from app.services import notifications

    idea = make.idea(world["member"], world["community"])
    notifications.set_preferences(world["reader"], {k: {"in_app": k != "status"} for k in notifications.KINDS})
    ideas.toggle_vote(world["reader"], idea.id)
    ideas.change_status(world["manager"], idea.id, "planned", "Planned")
    jobs.drain()
    assert notes_of(world["reader"], "status") == [] and len(notes_of(world["member"], "status")) == 1


# --- the panel ----------------------------------------------------------------------------

def test_panel_tells_what_the_viewer_may_do(world, make):
    from app.services import access

    idea = make.idea(world["member"], world["community"])
    ideas.toggle_vote(world["reader"], idea.id)
    ideas.change_status(world["manager"], idea.id, "under_review", "First look")
    ideas.change_status(world["manager"], idea.id, "planned", "Planned for June")
    mine = ideas.panel(world["reader"], access.post_for(world["reader"], idea.id))
    assert (mine.voted, mine.can_vote, mine.vote_count, mine.status_label) == (True, True, 1, "Planned")
    assert mine.latest.response == "Planned for June" and mine.latest.actor.id == world["manager"].id
    assert [h.to_status for h in mine.history] == ["planned", "under_review"]
    assert not mine.can_respond and not mine.can_see_voters and mine.next_statuses == []
    staff = ideas.panel(world["manager"], access.post_for(world["manager"], idea.id))
    assert staff.can_respond and staff.can_see_voters and not staff.voted
    assert staff.next_statuses == ["in_progress", "done", "declined", "duplicate"]


# --- pages --------------------------------------------------------------------------------

@pytest.fixture
def site(app, make):
    manager = make.user("employee")
    community = make.community("open", manager=manager)
    member = make.user("customer")
    make.member(community, member)
    with app.app_context():
        author = db.session.get(User, member.id)
        idea = make.idea(author, db.session.get(Community, community.id), title="Bigger tents please")
        question = make.idea(author, db.session.get(Community, community.id), title="Where is my parcel?", kind="question")
        ids = {"idea": idea.id, "question": question.id}
    return {"manager": manager, "member": member, "community": community, **ids}


def test_vote_button_works_without_javascript(site, login_as):
    client = login_as(site["member"])
    page = client.get(f"/p/{site['idea']}").get_data(as_text=True)
    assert 'aria-pressed="false"' in page and f'action="/p/{site["idea"]}/vote"' in page
    resp = post_form(client, f"/p/{site['idea']}/vote")
    assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/p/{site['idea']}#idea")
    page = client.get(f"/p/{site['idea']}").get_data(as_text=True)
    assert 'aria-pressed="true"' in page and "your vote counts (1 vote)" in page
    resp = post_form(client, f"/p/{site['idea']}/vote", {"next": f"/c/{site['community'].slug}"})
    assert resp.headers["Location"] == f"/c/{site['community'].slug}"
    resp = post_form(client, f"/p/{site['idea']}/vote", {"next": "https://evil.example/"})
    assert resp.headers["Location"].endswith(f"/p/{site['idea']}#idea")


def test_vote_on_a_question_is_refused_with_a_message(site, login_as):
    client = login_as(site["member"])
    resp = post_form(client, f"/p/{site['question']}/vote", follow_redirects=True)
    assert resp.status_code == 200 and "Only ideas take votes" in resp.get_data(as_text=True)
    assert client.get(f"/p/{site['question']}/vote").status_code == 405
    assert post_form(client, "/p/999999/vote").status_code == 404


def test_voters_page_for_staff_only(site, login_as, make):
    client = login_as(site["member"])
    post_form(client, f"/p/{site['idea']}/vote")
    assert client.get(f"/p/{site['idea']}/voters").status_code == 403
    client = login_as(site["manager"])
    html = client.get(f"/p/{site['idea']}/voters").get_data(as_text=True)
    assert "Who voted" in html and site["member"].display_name in html
    assert "See who voted" in client.get(f"/p/{site['idea']}").get_data(as_text=True)


def test_status_form_publishes_the_official_response(site, login_as):
    client = login_as(site["manager"])
    page = client.get(f"/p/{site['idea']}").get_data(as_text=True)
    assert "Change the status" in page and 'name="idea-status"' in page
    resp = post_form(client, f"/p/{site['idea']}/status",
                     {"idea-status": "planned", "idea-response": "Coming in **May**."}, follow_redirects=True)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "The idea is now “Planned”" in html
    assert "Official response" in html and "<strong>May</strong>" in html
    member = login_as(site["member"])
    html = member.get(f"/p/{site['idea']}").get_data(as_text=True)
    assert "Official response" in html and "Change the status" not in html
    assert post_form(member, f"/p/{site['idea']}/status",
                     {"idea-status": "done", "idea-response": "Done by me"}).status_code == 403


def test_refused_status_change_keeps_the_typed_response(site, login_as):
    client = login_as(site["manager"])
    resp = post_form(client, f"/p/{site['idea']}/status",
                     {"idea-status": "duplicate", "idea-response": "My careful answer", "idea-duplicate_of": "tents"})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400 and "My careful answer" in html and "number or its address" in html
    assert "<details class=\"status-form\" open>" in html
    resp = post_form(client, f"/p/{site['question']}/status",
                     {"idea-status": "planned", "idea-response": "x"}, follow_redirects=True)
    assert "Only ideas have a status" in resp.get_data(as_text=True)


def test_duplicate_page_redirects_normal_viewers(site, login_as, app, make):
    client = login_as(site["manager"])
    with app.app_context():
        target = make.idea(db.session.get(User, site["member"].id), db.session.get(Community, site["community"].id), title="The original tents idea").id
    post_form(client, f"/p/{site['idea']}/status",
              {"idea-status": "duplicate", "idea-response": "Same idea", "idea-duplicate_of": f"/p/{target}"})
    html = client.get(f"/p/{site['idea']}").get_data(as_text=True)  # managers still see it
    assert "Merged into" in html and f"#{target}" in html
    member = login_as(site["member"])
    resp = member.get(f"/p/{site['idea']}")
    assert resp.status_code == 301 and resp.headers["Location"].endswith(f"/p/{target}")


def test_votes_by_segment_count_kinds_organisations_and_departments(world, make):
    from app.services.community import departments

    idea = make.idea(world["member"], world["community"])
    admin = fresh(make.admin())
    sales, support = departments.create(admin, "Sales"), departments.create(admin, "Support")
    voters = [fresh(make.user("customer", organisation="Camp Co")) for _ in range(3)]
    voters += [fresh(make.user("customer", organisation="Trail Ltd")), fresh(make.user("customer")),
               fresh(make.user("partner", organisation="Camp Co"))]
    voters += [fresh(make.user("employee", department=sales)) for _ in range(2)]
    voters += [fresh(make.user("employee", department=support)), world["reader"]]
    for person in voters:
        make.member(world["community"], person)
        ideas.toggle_vote(fresh(person), idea.id)
    seg = ideas.vote_segments(world["manager"], db.session.get(Post, idea.id))
    assert seg.total == 10
    assert seg.by_kind == [("customer", 5), ("partner", 1), ("employee", 4)]
    assert seg.kinds_text == "5 customers, 1 partner, 4 employees"
    assert seg.organisations == [("Camp Co", 4), ("Trail Ltd", 1), ("No organisation given", 1)]
    assert seg.organisations_text == "from 2 organisations: Camp Co (4), Trail Ltd (1)"
    assert seg.departments == [("Sales", 2), ("Support", 1), ("No department", 1)]
    # a customer who may see the voters (an external expert) gets the kinds, not the organisations
    outside = ideas.vote_segments(world["member"], db.session.get(Post, idea.id))
    assert outside.by_kind == seg.by_kind and outside.organisations == [] and outside.departments == []


def test_the_idea_box_and_the_voters_page_show_where_votes_come_from(site, login_as, make, app):
    customer = make.user("customer", organisation="Camp Co")
    with app.app_context():
        make.member(db.session.get(Community, site["community"].id), customer)
        ideas.toggle_vote(fresh(customer), site["idea"])
        ideas.toggle_vote(fresh(make.user("employee")), site["idea"])
    client = login_as(site["manager"])
    box = client.get(f"/p/{site['idea']}").get_data(as_text=True)
    assert "1 customer, 1 employee; customers and partners from 1 organisation: Camp Co (1)" in box
    page = client.get(f"/p/{site['idea']}/voters").get_data(as_text=True)
    assert "Where the votes come from" in page and "Customers and partners, by organisation" in page
    assert "<th scope=\"row\">Camp Co</th><td class=\"num\">1</td>" in page
    member_view = login_as(site["member"]).get(f"/p/{site['idea']}").get_data(as_text=True)
    assert "Camp Co (1)" not in member_view and "1 customer, 1 employee" not in member_view
