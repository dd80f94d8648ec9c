"""Experts linked to topics: assignment rules and history, official rights and badges, routing
of new questions and ideas (exactly once), escalation timing (time injected) and idempotency,
topics flagged for having no expert, suggestions ranked on constructed evidence, metrics on a
known history (exact medians), the finder's access rules, the pages and their forms, constant
query counts for the finder and the queue, and the demo's experts."""
from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from app import clock
from app.errors import Forbidden, NotFound, ValidationError
from app.extensions import db
from app.models import (
    Comment,
    Community,
    Escalation,
    ExpertAssignment,
    ExpertRoute,
    Post,
    Topic,
    TopicFlag,
    User,
)
from app.services import access, notifications
from app.services.community import communities, follows
from app.services.content import comments, ideas, posts
from app.services.experts import expert_reports, experts
from app.services.platform import jobs
from tests.conftest import post as post_form
from tests.helpers import fresh, notes_of, topic_of

T0 = datetime(2030, 3, 4, 9, 0)


def _at(**delta):
    clock.set_now(T0 + timedelta(**delta))


@pytest.fixture
def w(ctx, make):
    """An open community "service" (topics Returns, Repairs) managed by Mona; Eddie (employee),
    Mia (member), Cora (customer), Pia (partner), a moderator; all made at T0."""
    clock.set_now(T0)
    mona = make.user("employee", name="Mona Manager")
    c = make.community("open", manager=mona, name="Service", slug="service", topics=("Returns", "Repairs"))
    people = {
        "eddie": make.user("employee", name="Eddie Expert"),
        "mia": make.user("employee", name="Mia Member"),
        "cora": make.user("customer", name="Cora Customer"),
        "pia": make.user("partner", name="Pia Partner"),
        "mod": make.user("employee", name="Max Moderator"),
    }
    for person in people.values():
        make.member(c, person)
    communities.set_role(fresh(mona), "service", people["mod"].id, "moderator")
    ns = {k: fresh(v) for k, v in people.items()}
    ns.update(mona=fresh(mona), c=fresh(c), returns=topic_of(c, "Returns"), repairs=topic_of(c, "Repairs"))
    return type("World", (), ns)


def _assign(w, person, topic="returns", note=""):
    return experts.assign(w.mona, "service", topic, person, note)


def _ask(author, kind="question", topics=("Returns",), title="Where is my parcel?", community="service", body=""):
    c = db.session.scalar(select(Community).where(Community.slug == community))
    ids = [topic_of(c, name).id for name in topics]
    return posts.create(author, community, kind, title, body, ids)


# --- assignment rules ---------------------------------------------------------------------

def test_a_manager_assigns_an_employee_with_a_note_and_they_are_told(w):
    row = _assign(w, "@" + w.eddie.handle, note="  owns the   returns process ")
    assert (row.topic_id, row.user_id, row.note, row.assigned_by_id) == (w.returns.id, w.eddie.id,
                                                                          "owns the returns process", w.mona.id)
    assert [n.text for n in notes_of(w.eddie, "expert")] == [
        "Mona Manager made you an expert of “Returns” in Service: owns the returns process"]
    # by email address and by full name too
    assert _assign(w, w.mia.email.upper(), topic="repairs").user_id == w.mia.id
    assert _assign(w, "Eddie Expert", topic="repairs").user_id == w.eddie.id


@pytest.mark.parametrize("who, message", [
    ("cora", "customers cannot be experts"),
    ("pia", "does not allow partners as experts"),
    ("nobody", "Nobody called"),
    ("blank", "Name the person"),
])
def test_who_cannot_be_an_expert_gets_a_clear_message(w, who, message):
    person = {"cora": w.cora, "pia": w.pia, "nobody": "@no.such.person", "blank": "  "}[who]
    with pytest.raises(ValidationError) as err:
        _assign(w, person)
    assert message in err.value.errors["person"]
    assert db.session.scalar(select(func.count()).select_from(ExpertAssignment)) == 0


def test_partners_only_where_the_community_allows_them(w):
    communities.update(w.mona, "service", name="Service", description="", visibility="open", new_slug="service",
                       allow_external_experts=True)
    assert _assign(w, w.pia).user_id == w.pia.id
    with pytest.raises(ValidationError, match="customers cannot be experts"):
        _assign(w, w.cora)


def test_suspended_people_and_people_who_cannot_see_the_community_are_refused(w, make):
    admin = fresh(make.admin())
    from app.services.people import accounts

    accounts.suspend(admin, w.mia, None, "Holiday abuse")
    with pytest.raises(ValidationError, match="suspended"):
        _assign(w, w.mia)
    secret = make.community("private", manager=w.mona, slug="secret", topics=("Plans",))
    outsider = fresh(make.user("employee", name="Otto Outsider"))
    with pytest.raises(ValidationError, match="cannot see this community"):
        experts.assign(w.mona, "secret", "plans", outsider)
    make.member(secret, outsider)
    assert experts.assign(w.mona, "secret", "plans", fresh(outsider)).user_id == outsider.id


def test_only_managers_assign_and_remove(w):
    with pytest.raises(Forbidden):
        experts.assign(w.mia, "service", "returns", w.eddie)
    with pytest.raises(Forbidden):
        experts.assign(w.mod, "service", "returns", w.eddie)  # moderators do not manage
    row = _assign(w, w.eddie)
    with pytest.raises(Forbidden):
        experts.remove(w.eddie, "service", "returns", row.id)
    with pytest.raises(NotFound):
        experts.assign(w.mona, "service", "no-such-topic", w.eddie)


def test_assigning_twice_is_refused_and_notes_are_limited(w):
    _assign(w, w.eddie)
    with pytest.raises(ValidationError, match="already an expert of Returns"):
        _assign(w, w.eddie)
    with pytest.raises(ValidationError) as err:
        _assign(w, w.mia, note="x" * 201)
    assert "at most 200" in err.value.errors["note"]


def test_removing_keeps_the_history_and_the_content(w):
    _at(hours=1)
    row = _assign(w, w.eddie, note="first round")
    question = _ask(w.cora)
    answer = comments.add(w.eddie, question.id, "It is on its way.")
    _at(hours=5)
    experts.remove(w.mona, "service", "returns", row.id)
    with pytest.raises(ValidationError, match="no longer an expert"):
        experts.remove(w.mona, "service", "returns", row.id)
    _at(hours=9)
    again = _assign(w, w.eddie, note="second round")
    assert again.id != row.id
    rows = experts.history(w.returns)
    assert [(r.user_id, r.note, r.removed_at is None) for r in rows] == [
        (w.eddie.id, "second round", True), (w.eddie.id, "first round", False)]
    assert rows[1].removed_by_id == w.mona.id and rows[1].removed_at == T0 + timedelta(hours=5)
    assert db.session.get(Comment, answer.id).deleted_at is None
    assert db.session.get(Post, question.id).deleted_at is None


# --- what an expert may do, and badges ----------------------------------------------------

def test_a_current_expert_responds_officially_and_accepts_answers(w):
    idea = _ask(w.cora, "idea", title="Free returns labels")
    assert not access.post_access(w.eddie, idea).can_respond
    row = _assign(w, w.eddie)
    assert access.post_access(w.eddie, idea).can_respond
    ideas.change_status(w.eddie, idea.id, "under_review", "We are looking into it.")
    question = _ask(w.cora, title="Can I swap sizes?")
    answer = comments.add(w.mia, question.id, "Yes, in any store.")
    comments.accept(w.eddie, answer.id)
    assert db.session.get(Post, question.id).accepted_comment_id == answer.id
    other = _ask(w.cora, topics=("Repairs",), title="A repair question")
    assert not access.post_access(w.eddie, other).can_respond  # not their topic
    experts.remove(w.mona, "service", "returns", row.id)
    assert not access.post_access(w.eddie, idea).can_respond


def test_badges_for_a_post_and_for_a_list(w):
    _assign(w, w.eddie)
    mine = _ask(w.eddie, "discussion", title="How returns work now")
    theirs = _ask(w.mia, "discussion", title="Something from Mia")
    badges = experts.badges_for_post(mine)
    assert badges.topics_of(w.eddie.id) == ["Returns"] and w.eddie.id in badges
    assert w.mia.id not in badges and badges.topics_of(None) == []
    assert experts.expert_post_ids([mine.id, theirs.id]) == {mine.id}


# --- routing ------------------------------------------------------------------------------

def test_a_new_question_reaches_its_experts_exactly_once(w):
    _assign(w, w.eddie)
    _assign(w, w.mia, topic="repairs")
    follows.follow(w.eddie, "topic", w.returns.id)       # follows too: still one notification
    follows.follow(w.mod, "topic", w.returns.id)         # a plain follower gets new_post
    question = _ask(w.cora, topics=("Returns", "Repairs"), title="My tent zip and my refund")
    jobs.drain()
    jobs.drain()
    eddie = notes_of(w.eddie, post=question)
    assert [n.kind for n in eddie] == ["routed"]
    assert "New question in Returns, where you are an expert" in eddie[0].text
    assert [n.kind for n in notes_of(w.mia, post=question)] == ["routed"]
    assert [n.kind for n in notes_of(w.mod, post=question)] == ["new_post"]
    assert not notes_of(w.cora, "routed")
    assert {r.user_id for r in db.session.scalars(select(ExpertRoute))} == {w.eddie.id, w.mia.id}


def test_discussions_and_the_experts_own_posts_are_not_routed(w):
    _assign(w, w.eddie)
    _ask(w.cora, "discussion", title="Just sharing a story")
    _ask(w.eddie, "question", title="A question of my own")
    jobs.drain()
    assert notes_of(w.eddie, "routed") == []


def test_a_mentioned_expert_is_told_once(w):
    _assign(w, w.eddie)
    question = _ask(w.cora, body=f"@{w.eddie.handle} can you help?")
    jobs.drain()
    assert [n.kind for n in notes_of(w.eddie, post=question)] == ["mention"]


def test_routing_respects_preferences(w):
    from app.services.platform import mail

    _assign(w, w.eddie)
    _assign(w, w.mia)
    notifications.set_preferences(w.eddie, {**notifications.preferences(w.eddie),
                                            "routed": {"in_app": False, "email": False}})
    notifications.set_preferences(w.mia, {**notifications.preferences(w.mia),
                                          "routed": {"in_app": False, "email": True}})
    follows.follow(w.eddie, "topic", w.returns.id)
    question = _ask(w.cora)
    jobs.drain()
    # routing turned off: Eddie still hears of it as a follower of the topic
    assert [n.kind for n in notes_of(w.eddie, post=question)] == ["new_post"]
    assert notes_of(w.mia, post=question) == []  # by email only
    assert [m["To"] for m in mail.outbox()] == [w.mia.email]


def test_a_post_moved_into_a_topic_reaches_its_experts_once(w):
    _assign(w, w.mia, topic="repairs")
    question = _ask(w.cora, topics=("Returns",))
    jobs.drain()
    assert notes_of(w.mia, "routed") == []
    posts.edit(w.cora, question.id, question.title, "More detail", [w.returns.id, w.repairs.id])
    jobs.drain()
    posts.edit(w.cora, question.id, question.title, "Even more detail", [w.returns.id, w.repairs.id])
    jobs.drain()
    assert len(notes_of(w.mia, "routed")) == 1


# --- escalation ---------------------------------------------------------------------------

def _escalations():
    return list(db.session.scalars(select(Escalation).order_by(Escalation.id)))


def test_an_unanswered_question_escalates_after_48_hours_once(w, make):
    _assign(w, w.eddie)
    _assign(w, w.eddie, topic="repairs")
    question = _ask(w.cora)
    comments.add(w.mia, question.id, "Same question here!")  # a member, not staff: still waiting
    _at(hours=47, minutes=59)
    assert experts.escalate().escalated == 0
    _at(hours=48, minutes=1)
    run = experts.escalate()
    assert run.escalated == 1
    again = experts.escalate()
    assert (again.escalated, again.resolved, again.flagged_topics) == (0, 0, 0)
    told = notes_of(w.mona, "escalation", post=question)
    assert len(told) == 1 and "Waiting 2 days" in told[0].text and "no answer from an expert" in told[0].text
    assert notes_of(w.eddie, "escalation") == []  # managers are told, not the experts
    esc = _escalations()
    assert len(esc) == 1 and esc[0].due_at == T0 + timedelta(hours=48) and esc[0].notified == 1
    # the expert answers: the next run closes it and it leaves the queue
    _at(hours=50)
    comments.add(w.eddie, question.id, "Found it: it is at the depot.")
    assert experts.attention(w.mona).total == 0  # the queue is live
    assert experts.escalate().resolved == 1
    assert _escalations()[0].resolved_at == T0 + timedelta(hours=50)
    assert len(notes_of(w.mona, "escalation", post=question)) == 1


def test_answers_by_experts_staff_and_accepted_answers_stop_the_clock(w):
    _assign(w, w.eddie)
    by_expert = _ask(w.cora, title="Answered by the expert")
    comments.add(w.eddie, by_expert.id, "Here you go.")
    by_moderator = _ask(w.cora, title="Answered by the moderator")
    comments.add(w.mod, by_moderator.id, "Moderator here.")
    by_manager = _ask(w.cora, title="Answered by the manager")
    comments.add(w.mona, by_manager.id, "Manager here.")
    accepted = _ask(w.cora, title="Accepted community answer")
    comments.accept(w.cora, comments.add(w.mia, accepted.id, "Try the app.").id)
    idea = _ask(w.cora, "idea", title="An idea with a response")
    ideas.change_status(w.mona, idea.id, "planned", "We will do it.")
    waiting_idea = _ask(w.cora, "idea", title="An idea without a response")
    comments.add(w.eddie, waiting_idea.id, "Nice idea!")  # a comment is not an official response
    self_answer = _ask(w.eddie, title="The expert's own question")
    comments.add(w.eddie, self_answer.id, "Bump")  # answering yourself does not count
    _at(days=3)
    experts.escalate()
    assert {e.post_id for e in _escalations()} == {waiting_idea.id, self_answer.id}


def test_expert_answers_count_only_while_they_are_expert(w):
    question = _ask(w.cora)
    comments.add(w.eddie, question.id, "I think it is in Venlo.")  # not an expert yet
    _at(hours=1)
    _assign(w, w.eddie)
    _at(hours=49)
    assert experts.escalate().escalated == 1


def test_each_community_sets_its_own_answer_time(w, make):
    experts.set_escalation_hours(w.mona, "service", 4)
    other = make.community("open", manager=w.mona, slug="other", topics=("General",))
    quick = _ask(w.cora)
    slow = _ask(w.cora, topics=("General",), community="other", title="A question elsewhere")
    _at(hours=4, minutes=1)
    experts.escalate()
    assert [e.post_id for e in _escalations()] == [quick.id]
    _at(hours=48, minutes=1)
    experts.escalate()
    assert [e.post_id for e in _escalations()] == [quick.id, slow.id]
    assert other is not None


@pytest.mark.parametrize("value, message", [
    ("0", "between 1 hour and 720 hours"), ("721", "between 1 hour"), ("soon", "whole number"), ("", "whole number"),
])
def test_the_answer_time_is_validated(w, value, message):
    with pytest.raises(ValidationError) as err:
        experts.set_escalation_hours(w.mona, "service", value)
    assert message in err.value.errors["escalation_hours"]
    with pytest.raises(Forbidden):
        experts.set_escalation_hours(w.mia, "service", 24)


def test_a_topic_without_expert_is_flagged_once_per_gap(w):
    _assign(w, w.eddie)  # Returns has an expert; Repairs has none
    _at(hours=47)
    assert experts.escalate().flagged_topics == 0
    _at(hours=49)
    assert experts.escalate().flagged_topics == 1
    assert experts.escalate().flagged_topics == 0
    told = notes_of(w.mona, "escalation")
    assert len(told) == 1 and "“Repairs” in Service has had no expert" in told[0].text
    assert told[0].community_id in (None, w.c.id)
    queue = experts.attention(w.mona)
    assert [(u.topic.name, u.overdue) for u in queue.topics] == [("Repairs", True)]
    # an expert comes and goes: a new gap, flagged again after the answer time
    _at(hours=50)
    row = _assign(w, w.mia, topic="repairs")
    assert [u.topic.name for u in experts.attention(w.mona).topics] == []
    _at(hours=60)
    experts.remove(w.mona, "service", "repairs", row.id)
    _at(hours=100)
    assert experts.escalate().flagged_topics == 0
    _at(hours=109)
    assert experts.escalate().flagged_topics == 1
    assert db.session.scalar(select(func.count()).select_from(TopicFlag)) == 2


def test_escalation_is_a_periodic_job_and_a_cli_command(app, make):
    from app.services.platform.jobs import _periodic

    assert "experts.escalate" in _periodic and _periodic["experts.escalate"].every == timedelta(minutes=10)
    with app.app_context():
        clock.set_now(T0)
        manager = make.user("employee")
        make.community("open", manager=manager, slug="cli", topics=("General",))
        posts.create(fresh(manager), "cli", "question", "Anyone there?", "", [topic_of(_c_slug("cli"), "General").id])
        clock.set_now(T0 + timedelta(days=3))
        assert "experts.escalate" in jobs.tick()
        jobs.drain()
        assert db.session.scalar(select(func.count()).select_from(Escalation)) == 1
        assert db.session.scalar(select(func.count()).select_from(TopicFlag)) == 1
        posts.create(fresh(manager), "cli", "idea", "Another one waiting", "", [topic_of(_c_slug("cli"), "General").id])
        clock.set_now(T0 + timedelta(days=6))
    result = app.test_cli_runner().invoke(args=["experts", "escalate"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "1 item(s) escalated, 0 resolved, 0 topic(s) without an expert flagged"
    again = app.test_cli_runner().invoke(args=["experts", "escalate"])
    assert again.output.startswith("0 item(s) escalated")


def _c_slug(slug):
    return db.session.scalar(select(Community).where(Community.slug == slug))


def test_the_queue_lists_overdue_items_oldest_first_for_managers_only(w, make):
    old = _ask(w.cora, title="The oldest question")
    _at(hours=10)
    newer = _ask(w.cora, "idea", title="A newer idea")
    _at(hours=30)
    _ask(w.cora, title="Not overdue yet")
    _at(hours=60)
    assert experts.attention(w.mona).total == 0  # items join the queue at the next run
    experts.escalate()
    queue = experts.attention(w.mona)
    assert [i.post.id for i in queue.items] == [old.id, newer.id] and queue.total == 2
    assert queue.items[0].age == timedelta(hours=60) and queue.items[0].overdue_for == timedelta(hours=12)
    assert queue.items[0].escalated_at == T0 + timedelta(hours=60)
    with pytest.raises(Forbidden):
        experts.attention(w.mia)
    staff = fresh(make.user("employee", is_global_manager=True))
    assert experts.attention(staff).total == 2
    other_manager = fresh(make.user("employee"))
    make.community("open", manager=other_manager, slug="elsewhere")
    assert experts.attention(fresh(other_manager)).total == 0


# --- suggestions --------------------------------------------------------------------------

def test_suggestions_are_ranked_by_evidence_with_reasons(w, make):
    ann = fresh(make.user("employee", name="Ann Answers"))
    bob = fresh(make.user("employee", name="Bob Blogger"))
    liz = fresh(make.user("employee", name="Liz Liked"))
    likers = [fresh(make.user("employee")) for _ in range(3)]
    for q in range(2):  # Ann: 2 accepted answers -> 2*5 + 2 comments = 12
        question = _ask(w.cora, title=f"Question number {q}")
        comments.accept(w.cora, comments.add(ann, question.id, "Answer").id)
    for n in range(3):  # Bob: 3 posts -> 6
        _ask(bob, "discussion", title=f"Bob's post number {n}")
    question = _ask(w.cora, title="A liked answer")  # Liz: 1 comment with 3 likes -> 4
    liked = comments.add(liz, question.id, "Great answer")
    for person in likers:
        comments.toggle_like(person, liked.id)
    comments.add(w.pia, question.id, "A partner answer")  # partners are not allowed here
    comments.add(w.eddie, question.id, "An expert's answer")
    _assign(w, w.eddie)  # already an expert: not suggested
    repair = _ask(w.mia, topics=("Repairs",), title="Evidence in another topic")
    comments.accept(w.mia, comments.add(bob, repair.id, "Elsewhere").id)
    found = expert_reports.suggestions(w.mona, "service", "returns")
    assert [(s.user.display_name, s.score) for s in found] == [
        ("Ann Answers", 12), ("Bob Blogger", 6), ("Liz Liked", 4)]
    assert found[0].reason == "2 accepted answers, 2 answers or comments"
    assert found[1].reason == "3 posts"
    assert found[2].reason == "3 likes, 1 answer or comment"
    with pytest.raises(Forbidden):
        expert_reports.suggestions(w.mia, "service", "returns")


# --- metrics ------------------------------------------------------------------------------

def test_metrics_on_a_known_history(w, make):
    _assign(w, w.eddie)  # expert from T0
    q1 = _ask(w.cora, title="First question")          # expert answers after 2 h
    q2 = _ask(w.cora, title="Second question")         # a member answers after 4 h
    _ask(w.cora, title="Third question")               # nobody answers
    i1 = _ask(w.cora, "idea", title="An idea")         # official response after 10 h
    _at(hours=2)
    comments.add(w.eddie, q1.id, "Expert answer")
    _at(hours=3)
    comments.add(w.eddie, q1.id, "A second note")      # only the first counts
    _at(hours=4)
    comments.add(w.mia, q2.id, "Member answer")
    _at(hours=10)
    ideas.change_status(w.mona, i1.id, "planned", "Planned")
    _at(hours=11)
    late = fresh(make.user("employee", name="Late Expert"))
    make.member(w.c, late)
    _assign(w, fresh(late))                               # expert after all four were posted
    _at(hours=60)
    experts.escalate()
    by_topic, by_expert = expert_reports.compute_metrics([w.returns.id, w.repairs.id])
    m = by_topic[w.returns.id]
    assert (m.items, m.questions, m.answered, m.answered_by_expert) == (4, 3, 2, 1)
    assert sorted(m.response_times) == [timedelta(hours=2), timedelta(hours=4), timedelta(hours=10)]
    assert m.median_first_response == timedelta(hours=4)
    assert m.open_overdue == 2 and m.answered_share == pytest.approx(2 / 3) and m.expert_share == pytest.approx(1 / 3)
    assert by_topic[w.repairs.id].items == 0 and by_topic[w.repairs.id].median_first_response is None
    e = by_expert[w.eddie.id]
    assert (e.items, e.questions, e.answered_by_them, e.open_overdue) == (4, 3, 1, 2)  # q2 and q3
    assert e.median_first_response == timedelta(hours=2)
    lm = by_expert[late.id]
    assert (lm.items, lm.open_overdue) == (0, 2)  # owns the topic now: what is overdue is theirs
    # an even count: the mean of the middle two
    assert expert_reports.median([timedelta(hours=h) for h in (1, 2, 4, 10)]) == timedelta(hours=3)
    # the period: only what was posted since
    by_topic, _ = expert_reports.compute_metrics([w.returns.id], since=T0 + timedelta(minutes=1))
    assert by_topic[w.returns.id].items == 0


def test_community_and_personal_metrics_pages_data(w):
    _assign(w, w.eddie)
    q = _ask(w.cora)
    _at(hours=1)
    comments.add(w.eddie, q.id, "Answer")
    _at(hours=2)
    cm = expert_reports.community_metrics(w.mona, "service", "all")
    assert [(t.name, m.items) for t, m in cm.topics] == [("Repairs", 0), ("Returns", 1)]
    assert [(u.id, names) for u, _m, names in cm.experts] == [(w.eddie.id, ["Returns"])]
    with pytest.raises(Forbidden):
        expert_reports.community_metrics(w.eddie, "service")
    mine = expert_reports.my_topics(w.eddie, "all")
    assert [et.topic.name for et, _a, _m in mine.topics] == ["Returns"]
    assert mine.mine.answered_by_them == 1 and mine.mine.median_first_response == timedelta(hours=1)


# --- the finder ---------------------------------------------------------------------------

@pytest.fixture
def org(ctx, make):
    """An open community (Returns) and an internal one (Payroll), each with an expert; an
    employee with expertise tags but no topic; a customer member of the open community."""
    from app.services.people import people

    clock.set_now(T0)
    staff = make.user("employee", is_global_manager=True)
    open_c = make.community("open", manager=staff, name="Service", slug="service", topics=("Returns",))
    internal = make.community("internal", manager=staff, name="HR", slug="hr", topics=("Payroll",))
    ines = fresh(make.user("employee", name="Ines Open"))
    hans = fresh(make.user("employee", name="Hans Internal"))
    tara = fresh(make.user("employee", name="Tara Tagged"))
    cust = make.user("customer", name="Carl Customer")
    make.member(open_c, cust)
    s = fresh(staff)
    people.update_profile(tara, expertise="forklifts, lean")
    people.update_profile(ines, expertise="refunds")
    experts.assign(s, "service", "returns", ines, "refund rules")
    experts.assign(s, "hr", "payroll", hans)
    experts.assign(s, "hr", "payroll", ines)
    q = posts.create(fresh(cust), "service", "question", "Refund for a gift?", "", [topic_of(open_c, "Returns").id])
    comments.add(ines, q.id, "Yes, with the gift receipt.")
    hr_q = posts.create(hans, "hr", "question", "Payslip dates?", "", [topic_of(internal, "Payroll").id])
    comments.add(ines, hr_q.id, "The 25th.")
    return type("Org", (), {"staff": s, "ines": ines, "hans": hans, "tara": tara, "cust": fresh(cust),
                            "payroll": topic_of(internal, "Payroll"), "returns": topic_of(open_c, "Returns")})


def _names(page):
    return [c.user.display_name for c in page.cards]


def test_employees_find_experts_first_then_tagged_colleagues(org):
    page = expert_reports.find(org.tara)
    assert _names(page) == ["Hans Internal", "Ines Open", "Tara Tagged"]
    ines = page.cards[1]
    assert [t.topic.name for t in ines.topics] == ["Payroll", "Returns"] and ines.topics[1].note == "refund rules"
    assert [a.post_title for a in ines.answers] == ["Payslip dates?", "Refund for a gift?"]
    assert _names(expert_reports.find(org.tara, experts_only=True)) == ["Hans Internal", "Ines Open"]
    assert _names(expert_reports.find(org.tara, topic_id=org.payroll.id)) == ["Hans Internal", "Ines Open"]
    assert _names(expert_reports.find(org.tara, tag="forklifts")) == ["Tara Tagged"]
    from app.services.people import people

    people.update_profile(org.cust, expertise="forklifts")  # customers are not the organisation's experts
    assert _names(expert_reports.find(org.tara, tag="forklifts")) == ["Tara Tagged"]
    assert _names(expert_reports.find(org.tara, q="refund")) == ["Ines Open"]  # a tag
    assert _names(expert_reports.find(org.tara, q="payroll")) == ["Hans Internal", "Ines Open"]  # a topic name
    assert _names(expert_reports.find(org.tara, q="%")) == []


def test_externals_only_see_experts_of_communities_they_can_read(org):
    page = expert_reports.find(org.cust)
    assert _names(page) == ["Ines Open"]  # not Hans (internal), not Tara (tags only)
    card = page.cards[0]
    assert [t.topic.name for t in card.topics] == ["Returns"]  # Payroll is internal
    assert [a.post_title for a in card.answers] == ["Refund for a gift?"]
    assert not card.can_open_profile  # they share no community: the directory does not show her
    assert _names(expert_reports.find(org.cust, topic_id=org.payroll.id)) == []
    assert _names(expert_reports.find(org.cust, q="payroll")) == []
    assert [c.slug for c, _ts in expert_reports.finder_topics(org.cust)] == ["service"]


def test_suspended_experts_drop_out(org, make):
    from app.services.people import accounts

    accounts.suspend(fresh(make.admin()), org.hans, None, "Left")
    assert "Hans Internal" not in _names(expert_reports.find(org.tara))
    assert experts.experts_by_topic([org.payroll.id])[org.payroll.id][0].user.id == org.ines.id


# --- pages --------------------------------------------------------------------------------

@pytest.fixture
def site(app, make):
    """For view tests (no pushed context): ids only."""
    with app.app_context():
        clock.set_now(T0)
        manager = make.user("employee", name="Mona Manager")
        c = make.community("open", manager=manager, slug="service", topics=("Returns", "Repairs"))
        eddie = make.user("employee", name="Eddie Expert")
        mia = make.user("employee", name="Mia Member")
        cust = make.user("customer", name="Cora Customer")
        for person in (eddie, mia, cust):
            make.member(c, person)
        m = db.session.get(User, manager.id)
        experts.assign(m, "service", "returns", db.session.get(User, eddie.id), "owns returns")
        question = posts.create(db.session.get(User, cust.id), "service", "question", "Where is my refund?", "",
                                [topic_of(_c_slug("service"), "Returns").id])
        comments.add(db.session.get(User, eddie.id), question.id, "Processing, two more days.")
        comments.add(db.session.get(User, mia.id), question.id, "Mine took a week.")
        clock.reset()
        return {"manager": manager, "eddie": eddie, "mia": mia, "cust": cust, "question": question.id,
                "community": c}


def test_expert_badges_show_on_post_pages_lists_and_topic_pages(site, login_as):
    client = login_as(site["mia"])
    html = client.get(f"/p/{site['question']}").get_data(as_text=True)
    assert html.count('class="badge badge-expert"') == 1
    assert re.search(r"Eddie Expert</a>\s*<span class=\"badge badge-expert\" title=\"Expert for Returns\"", html)
    topic_html = client.get("/c/service/t/returns").get_data(as_text=True)
    assert "Experts of Returns" not in topic_html and "Expert of Returns" in topic_html
    assert "owns returns" in topic_html
    show = client.get("/c/service").get_data(as_text=True)
    assert "Eddie Expert" in show and "no expert yet" in show and "Manage experts" not in show


def test_managers_assign_through_the_form_and_see_clear_errors(site, login_as, app):
    client = login_as(site["manager"])
    page = client.get("/c/service/t/repairs/experts")
    assert page.status_code == 200 and "has no expert" in page.get_data(as_text=True)
    resp = post_form(client, "/c/service/t/repairs/experts", {"person": "Cora Customer", "note": ""})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400 and "customers cannot be experts" in html and 'aria-invalid="true"' in html
    resp = post_form(client, "/c/service/t/repairs/experts", {"person": "Mia Member", "note": "fixes zips"})
    assert resp.status_code == 302
    html = client.get("/c/service/t/repairs/experts").get_data(as_text=True)
    assert "Mia Member is now an expert of Repairs" in html and "fixes zips" in html
    with app.app_context():
        row = db.session.scalar(select(ExpertAssignment).where(ExpertAssignment.user_id == site["mia"].id))
    resp = post_form(client, f"/c/service/t/repairs/experts/{row.id}/remove")
    assert resp.status_code == 302
    html = client.get("/c/service/t/repairs/experts").get_data(as_text=True)
    assert "no longer an expert of Repairs" in html and "removed by Mona Manager" in html


def test_one_click_assign_from_a_suggestion(site, login_as):
    client = login_as(site["manager"])
    html = client.get("/c/service/t/returns/experts").get_data(as_text=True)
    assert "Mia Member" in html and "1 answer or comment" in html
    resp = post_form(client, "/c/service/t/returns/experts", {"user_id": str(site["mia"].id)})
    assert resp.status_code == 302
    assert "Mia Member is now an expert" in client.get("/c/service/t/returns/experts").get_data(as_text=True)
    resp = post_form(client, "/c/service/t/returns/experts", {"user_id": str(site["cust"].id)})
    assert resp.status_code == 302  # the message comes back as a flash
    assert "customers cannot be experts" in client.get("/c/service/t/returns/experts").get_data(as_text=True)


def test_community_experts_page_and_answer_time_form(site, login_as):
    client = login_as(site["manager"])
    html = client.get("/c/service/experts?period=all").get_data(as_text=True)
    assert "Experts by topic" in html and "Eddie Expert" in html and "No expert" in html
    assert "Median first response" in html
    resp = post_form(client, "/c/service/experts", {"escalation_hours": "0"})
    assert resp.status_code == 400 and "Choose between 1 hour" in resp.get_data(as_text=True)
    resp = post_form(client, "/c/service/experts", {"escalation_hours": "24"})
    assert resp.status_code == 302
    assert 'value="24"' in client.get("/c/service/experts").get_data(as_text=True)


@pytest.mark.parametrize("who, url, status", [
    ("mia", "/c/service/experts", 403),
    ("mia", "/c/service/t/returns/experts", 403),
    ("mia", "/experts/attention", 403),
    ("cust", "/c/service/experts", 403),
    ("eddie", "/c/service/t/returns/experts", 403),
    ("mia", "/c/nowhere/experts", 404),
    ("manager", "/c/service/t/nothing/experts", 404),
])
def test_expert_pages_refuse_who_may_not_see_them(site, login_as, who, url, status):
    assert login_as(site[who]).get(url).status_code == status


def test_non_managers_cannot_post_to_the_management_forms(site, login_as):
    client = login_as(site["mia"])
    assert post_form(client, "/c/service/t/returns/experts", {"person": "Mia Member"}).status_code == 403
    assert post_form(client, "/c/service/experts", {"escalation_hours": "5"}).status_code == 403


def test_finder_mine_and_attention_pages(site, login_as, app):
    client = login_as(site["cust"])
    html = client.get("/experts").get_data(as_text=True)
    assert "Eddie Expert" in html and "Where is my refund?" in html and "Department" not in html
    client = login_as(site["eddie"])
    html = client.get("/experts/mine").get_data(as_text=True)
    assert "Returns" in html and "owns returns" in html and "Needs attention" not in html
    with app.app_context():
        clock.set_now(T0 + timedelta(days=3))
        posts.create(db.session.get(User, site["cust"].id), "service", "idea", "Print labels at home", "",
                     [topic_of(_c_slug("service"), "Returns").id])
        clock.set_now(T0 + timedelta(days=6))
        experts.escalate()
    try:
        html = client.get("/experts/mine").get_data(as_text=True)
        assert "Print labels at home" in html and "Waiting 3 days" in html
        html = login_as(site["manager"]).get("/experts/attention").get_data(as_text=True)
        assert "Print labels at home" in html and "Topics without an expert (1)" in html and "Repairs" in html
    finally:
        clock.reset()


def test_the_header_links_to_the_finder(site, login_as):
    html = login_as(site["mia"]).get("/experts").get_data(as_text=True)
    assert re.search(r'<a href="/experts" aria-current="page">Experts</a>', html)


# --- constant queries ---------------------------------------------------------------------

def test_finder_and_queue_run_a_constant_number_of_queries(app, make, login_as, count_queries):
    with app.app_context():
        clock.set_now(T0)
        manager = make.user("employee")
        make.community("open", manager=manager, slug="big", topics=("A", "B", "C"))
        asker = make.user("customer")
    viewer = make.user("employee")

    def grow(n):
        with app.app_context():
            clock.set_now(T0)
            m = db.session.get(User, manager.id)
            c = _c_slug("big")
            for i in range(n):
                person = db.session.get(User, make.user("employee").id)
                experts.assign(m, "big", ["a", "b", "c"][i % 3], person, f"note {i}")
                q = posts.create(db.session.get(User, asker.id), "big", "question", f"Question number {i}", "",
                                 [topic_of(c, ["A", "B", "C"][i % 3]).id])
                comments.add(person, q.id, "An answer")
                posts.create(db.session.get(User, asker.id), "big", "idea", f"Idea number {i}", "",
                             [topic_of(c, "A").id])
            clock.set_now(T0 + timedelta(days=5))
            experts.escalate()

    counts = {}
    try:
        for size in (3, 9):
            grow(size if size == 3 else size - 3)
            for who, url in ((viewer, "/experts"), (viewer, "/experts?q=note&experts=1"),
                             (manager, "/experts/attention")):
                client = login_as(who)
                client.get(url)
                with count_queries() as q:
                    assert client.get(url).status_code == 200
                counts.setdefault(url, []).append(q.count)
    finally:
        clock.reset()
    for url, (few, many) in counts.items():
        assert few == many, (url, counts)
    print("query counts:", {url: c[0] for url, c in counts.items()})


# --- the demo -----------------------------------------------------------------------------

def test_the_demo_has_experts_waiting_items_and_one_topic_without_experts(app, runner):
    result = runner.invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        topics = db.session.scalar(select(func.count()).select_from(Topic))
        owned = db.session.scalar(select(func.count(func.distinct(ExpertAssignment.topic_id))).where(
            ExpertAssignment.removed_at.is_(None)))
        assert owned == topics - 1
        ada = db.session.scalar(select(User).where(User.email == "ada@acme.example"))
        queue = experts.attention(ada)
        assert [u.topic.name for u in queue.topics] == ["Release notes"]
        assert queue.total >= 3 and db.session.scalar(select(func.count()).select_from(Escalation)) >= 3
        assert db.session.scalar(select(func.count()).select_from(TopicFlag)) == 1
        partner_experts = db.session.scalar(select(func.count()).select_from(ExpertAssignment).join(
            User, User.id == ExpertAssignment.user_id).where(User.kind == "partner"))
        assert partner_experts >= 2
        assert db.session.scalar(select(func.count()).select_from(ExpertAssignment).where(
            ExpertAssignment.removed_at.isnot(None))) == 1


def test_items_overdue_for_long_before_the_first_run_are_listed_not_notified(w):
    ancient = _ask(w.cora, title="Asked long ago")
    _at(days=40)
    recent = _ask(w.cora, title="Asked recently")
    _at(days=42, hours=1)
    experts.escalate()
    assert {e.post_id: e.notified for e in _escalations()} == {ancient.id: 0, recent.id: 1}
    assert [n.post_id for n in notes_of(w.mona, "escalation") if n.post_id] == [recent.id]
    queue = experts.attention(w.mona)
    assert [(i.post.id, i.escalated_at is None) for i in queue.items] == [(ancient.id, True), (recent.id, False)]


def test_the_queue_drops_an_answered_item_at_once_and_reopens_a_lost_answer(w):
    _assign(w, w.eddie)
    question = _ask(w.cora)
    _at(hours=49)
    experts.escalate()
    assert experts.attention(w.mona).total == 1
    answer = comments.add(w.eddie, question.id, "On its way.")
    assert experts.attention(w.mona).total == 0  # checked again when shown
    jobs.drain()  # the comment's notification job closes the escalation
    assert _escalations()[0].resolved_at == T0 + timedelta(hours=49)
    comments.delete(w.mona, answer.id)  # the answer goes away: waiting again
    _at(hours=50)
    run = experts.escalate()
    assert (run.escalated, run.reopened) == (0, 1) and experts.attention(w.mona).total == 1
    assert len(notes_of(w.mona, "escalation", post=question)) == 1  # not told twice


def test_a_run_notifies_at_most_a_batch_and_the_next_run_continues(w, monkeypatch):
    monkeypatch.setattr(experts, "ESCALATION_BATCH", 2)
    first = [_ask(w.cora, title=f"Question number {i}") for i in range(3)]
    _at(hours=49)
    assert experts.escalate().escalated == 2
    assert [i.post.id for i in experts.attention(w.mona).items] == [p.id for p in first[:2]]
    assert experts.escalate().escalated == 1
    assert experts.escalate().escalated == 0
    assert all(e.notified == 1 for e in _escalations())


def test_page_metrics_are_remembered_for_a_few_minutes_when_configured(w, app):
    _assign(w, w.eddie)
    _ask(w.cora)
    app.config["EXPERTS_METRICS_CACHE_SECONDS"] = 300
    try:
        first = expert_reports.community_metrics(w.mona, "service", "all")
        _ask(w.cora, title="Another question")
        again = expert_reports.community_metrics(w.mona, "service", "all")
        assert again.computed_at == first.computed_at and dict(again.topics)[w.returns].items == 1
        app.config["EXPERTS_METRICS_CACHE_SECONDS"] = 0
        fresh = expert_reports.community_metrics(w.mona, "service", "all")
        assert [m.items for t, m in fresh.topics if t.id == w.returns.id] == [2]
    finally:
        app.config.pop("EXPERTS_METRICS_CACHE_SECONDS", None)


def _strip(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def _community_page_figures(html: str) -> dict[str, tuple]:
    """Expert name -> (median first response, answered by them, questions, overdue) from the
    community's experts page."""
    found = {}
    for row in re.findall(r'<tr><th scope="row"><a href="[^"]+">([^<]+)</a>.*?</th>(.*?)</tr>', html, re.S):
        name, cells = row
        values = [_strip(c) for c in re.findall(r"<td>(.*?)</td>", cells, re.S)]
        items, median_, answered, _expert, theirs, overdue = values
        questions = re.search(r"of (\d+)", answered)
        found[name] = (median_, theirs, questions.group(1) if questions else "0", overdue)
    return found


def _topic_page_figures(html: str) -> dict[str, tuple]:
    found = {}
    for name, line in re.findall(r'class="person-name"[^>]*>([^<]+)</a>.*?<div class="small muted expert-figures">(.*?)</div>',
                                 html, re.S):
        m = re.search(r"median first response (.+?) · answered (.+?) of (\d+) questions? · (\d+) overdue", _strip(line))
        found[name] = m.groups()
    return found


def test_expert_figures_are_the_same_on_the_community_and_topic_pages(w, app):
    """One computation: an expert of two topics, a question filed under both and answered by
    another topic's expert, something overdue; every period, every expert, both pages."""
    from tests.conftest import login

    _assign(w, w.eddie, "returns")
    _assign(w, w.eddie, "repairs")
    _assign(w, w.mia, "returns")
    q1 = _ask(w.cora, title="Returns question")
    q2 = _ask(w.cora, topics=("Repairs",), title="Repairs question")
    q3 = _ask(w.cora, topics=("Returns", "Repairs"), title="Both topics")
    _ask(w.cora, topics=("Repairs",), title="Nobody answers this")
    _at(hours=1)
    comments.add(w.mia, q3.id, "Mia answers")
    _at(hours=2)
    comments.add(w.eddie, q1.id, "Eddie answers")
    _at(hours=6)
    comments.add(w.eddie, q2.id, "Eddie answers repairs")
    _at(hours=60)
    experts.escalate()
    db.session.commit()
    client = app.test_client()
    login(client, w.mona)
    for period in expert_reports.PERIODS:
        community = _community_page_figures(client.get(f"/c/service/experts?period={period}").get_data(as_text=True))
        assert {"Eddie Expert", "Mia Member"} <= set(community)
        for topic in ("returns", "repairs"):
            shown = _topic_page_figures(client.get(f"/c/service/t/{topic}/experts?period={period}").get_data(as_text=True))
            assert shown, topic
            for name, figures in shown.items():
                assert figures == community[name], (period, topic, name)
