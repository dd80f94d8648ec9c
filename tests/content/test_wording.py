"""Counts and their nouns: "1 comment", "2 comments", "0 comments", in visible text and in the
text only screen readers get, on every page that shows a count (one helper: app.wording)."""
from __future__ import annotations

import html as html_lib
import re

import pytest

from app.extensions import db
from app.models import User
from app.services import chat, search
from app.services.content import comments, ideas, posts
from app.wording import plural

NOUNS = [("comment", "comments"), ("vote", "votes"), ("answer", "answers"), ("member", "members"),
         ("person", "people"), ("result", "results"), ("reply", "replies"), ("like", "likes")]
_WORD = {w: (one, many) for one, many in NOUNS for w in (one, many)}
_COUNT = re.compile(r"(?<![\w.,])(\d[\d,]*)\s+(" + "|".join(sorted(_WORD, key=len, reverse=True)) + r")\b")


def spoken_text(page: str) -> str:
    """What a person (or their screen reader) gets: the page's text, hidden text included."""
    body = page.split("<body", 1)[-1]
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.S)
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def wrong_plurals(page: str) -> list[str]:
    bad = []
    for m in _COUNT.finditer(spoken_text(page)):
        n, word = int(m.group(1).replace(",", "")), m.group(2)
        one, many = _WORD[word]
        if word != (one if n == 1 else many):
            bad.append(m.group(0))
    return bad


@pytest.mark.parametrize("n, one, many, expected", [
    (0, "comment", None, "0 comments"), (1, "comment", None, "1 comment"), (2, "comment", None, "2 comments"),
    (1, "person", "people", "1 person"), (2, "person", "people", "2 people"), (1204, "reply", "replies", "1,204 replies"),
])
def test_plural_agrees_with_its_count(n, one, many, expected):
    assert plural(n, one, many) == expected
    assert plural(n, one, many, number=False) == expected.split(" ", 1)[1]


def test_the_checker_sees_a_wrong_plural():
    assert wrong_plurals('<body><span class="visually-hidden">1 votes, 1 comments.</span> 2 person') == \
        ["1 votes", "1 comments", "2 person"]
    assert wrong_plurals("<body>0 comments · 1 answer · 2 people · 1 member · 1,204 replies") == []


@pytest.fixture
def counted(app, make):
    """Posts with 0, 1 and 2 votes and comments (answers for questions); communities with 1 and
    3 members; everything indexed for search."""
    manager = make.user("employee", is_global_manager=True)
    readers = [make.user("employee") for _ in range(2)]
    make.community("open", manager=manager, name="Solo club", slug="solo")
    two = make.community("open", manager=manager, name="Counting club", slug="counting")
    for reader in readers:
        make.member(two, reader)
    ids = {}
    with app.app_context():
        m = db.session.get(User, manager.id)
        people = [db.session.get(User, r.id) for r in readers]
        for n in range(3):
            idea = posts.create(m, "counting", "idea", f"Counting idea with {n} of each" + (" zebra" if n == 1 else ""), "", [])
            question = posts.create(m, "counting", "question", f"Counting question number {n}", "", [])
            for person in people[:n]:
                ideas.toggle_vote(person, idea.id)
                comments.add(person, idea.id, "A comment on it")
                comments.add(person, question.id, "An answer to it")
            ids[n] = (idea.id, question.id)
            root, _ = chat.post(m, two.id, f"Chat line number {n}")
            for i in range(n):
                chat.post(people[i], two.id, "A reply in the thread", parent_id=root.id)
        search.sync()
    return {"manager": manager, "ids": ids}


def test_every_count_on_the_pages_agrees_with_its_noun(counted, login_as):
    client = login_as(counted["manager"])
    pages = ["/", "/communities", "/c/counting", "/c/solo", "/c/counting/members", "/search?q=counting",
             "/search?q=zebra", "/search?q=nothing-matches-this", "/people", "/c/counting/chat"]
    for idea_id, question_id in counted["ids"].values():
        pages += [f"/p/{idea_id}", f"/p/{question_id}"]
    seen = set()
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        page = response.get_data(as_text=True)
        assert wrong_plurals(page) == [], url
        seen |= {m.group(2) for m in _COUNT.finditer(spoken_text(page))}
    # the pages did show counts of each kind, singular and plural
    assert {"comment", "comments", "vote", "votes", "answer", "answers", "member", "members",
            "result", "results", "reply", "replies"} <= seen
