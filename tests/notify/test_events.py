"""Live events are emitted after the commit of what they describe, never after a rollback."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app import events
from app.errors import Forbidden
from app.extensions import db
from app.models import Post, Topic, User
from app.services.content import comments, ideas, posts


def test_events_wait_for_commit_and_die_with_rollback(ctx, monkeypatch):
    sent = []
    monkeypatch.setattr(events, "_emit", lambda name, payload, room: sent.append((name, room)))
    events.publish("post.created", {"post_id": 1}, "community:1")
    assert sent == []
    db.session.rollback()
    db.session.commit()
    assert sent == []
    events.publish("post.created", {"post_id": 2}, "community:1")
    db.session.commit()
    assert sent == [("post.created", "community:1")]


# --- what services publish ------------------------------------------------------------------

@pytest.fixture
def sent(ctx, monkeypatch):
    """Every event emitted (after commit) as (name, payload, room)."""
    out = []
    monkeypatch.setattr(events, "_emit", lambda name, payload, room: out.append((name, payload, room)))
    return out


@pytest.fixture
def question(ctx, make):
    manager = make.user("employee", is_global_manager=True)
    community = make.community("open", manager=manager, topics=("Returns",))
    asker, answerer = make.user("customer"), make.user("employee")
    make.member(community, asker)
    asker, answerer, manager = (db.session.get(User, u.id) for u in (asker, answerer, manager))
    topic = db.session.scalar(select(Topic.id).where(Topic.community_id == community.id))
    q = posts.create(asker, community.slug, "question", "How do I return a parcel?", "", [topic])
    first = comments.add(answerer, q.id, "Use the form")
    second = comments.add(manager, q.id, "Call us")
    return {"post": q, "asker": asker, "manager": manager, "answerer": answerer, "answers": (first.id, second.id)}


def _named(sent, name):
    return [(payload, room) for event, payload, room in sent if event == name]


def test_accepting_replacing_and_withdrawing_an_answer_reach_the_question_page(question, sent):
    q, (first, second) = question["post"], question["answers"]
    room = f"post:{q.id}"
    comments.accept(question["asker"], first)
    comments.accept(question["manager"], second)  # replaces the first
    comments.accept(question["manager"], second)  # already accepted: nothing changes, nothing sent
    comments.unaccept(question["asker"], second)
    comments.unaccept(question["asker"], second)  # not the accepted one any more: nothing
    assert _named(sent, "answer.accepted") == [
        ({"room": room, "post_id": q.id, "comment_id": first, "previous_id": None}, room),
        ({"room": room, "post_id": q.id, "comment_id": second, "previous_id": first}, room),
        ({"room": room, "post_id": q.id, "comment_id": None, "previous_id": second}, room),
    ]


def test_an_acceptance_that_is_refused_or_rolled_back_is_never_sent(question, sent, monkeypatch):
    q, (first, _second) = question["post"], question["answers"]
    with pytest.raises(Forbidden):
        comments.accept(question["answerer"], first)  # neither the asker nor staff
    db.session.rollback()

    def failing_commit():
        db.session.rollback()
        raise RuntimeError("the database went away")

    monkeypatch.setattr(db.session, "commit", failing_commit)
    with pytest.raises(RuntimeError):
        comments.accept(question["asker"], first)
    monkeypatch.undo()
    db.session.commit()
    assert _named(sent, "answer.accepted") == []
    assert db.session.get(Post, q.id).accepted_comment_id is None


def test_a_vote_reaches_the_idea_page_and_the_community_after_commit(ctx, make, sent):
    manager = make.user("employee", is_global_manager=True)
    community = make.community("open", manager=manager, topics=("Ideas",))
    voter = db.session.get(User, make.user("customer").id)
    topic = db.session.scalar(select(Topic.id).where(Topic.community_id == community.id))
    idea = posts.create(db.session.get(User, manager.id), community.slug, "idea", "Bigger tents", "", [topic])
    ideas.toggle_vote(voter, idea.id)
    ideas.toggle_vote(voter, idea.id)
    got = _named(sent, "idea.voted")
    rooms = [room for _payload, room in got]
    assert rooms == [f"post:{idea.id}", f"community:{community.id}"] * 2
    assert [(p["vote_count"], p["voted"], p["voter_id"]) for p, _room in got] == \
        [(1, True, voter.id)] * 2 + [(0, False, voter.id)] * 2
