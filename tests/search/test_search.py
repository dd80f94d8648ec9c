"""Search: the change log (same transaction, never on rollback), the indexer (order, cursor,
cascades), every query feature, the permission filter for every kind of person (hits, counts,
facets, suggestions), right after a removal, a visibility change and a post move, similar posts,
saved-search alerts at most once, and the search log."""
from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from app import clock
from app.extensions import db
from app.models import (
    Comment,
    Community,
    Notification,
    NotificationSetting,
    Post,
    SavedSearchHit,
    SearchChange,
    SearchLog,
    Topic,
    User,
)
from app.search import capture, indexer, rebuild, store
from app.services import access, notifications, search
from app.services.community import communities
from app.services.content import comments, ideas, posts, reads
from app.services.platform import mail
from tests.helpers import fresh, topic_of


def _changes() -> list[tuple[str, str]]:
    return [(r.doc_id, r.op) for r in db.session.scalars(select(SearchChange).order_by(SearchChange.id))]


def _ids(page, kind="post") -> set[int]:
    return {item.pk for item in page.items if item.type == kind}


@pytest.fixture
def world(ctx, make):
    """Three communities (open, internal, private) with a tent post each, and a person of every kind."""
    social = make.user("employee", is_global_manager=True, name="Sofia Social")
    manager = make.user("employee", name="Mona Manager")
    open_c = make.community("open", manager=social, name="Customer Ideas", slug="customer-ideas",
                            topics=("Returns", "Packaging"))
    internal = make.community("internal", manager=social, name="Logistics Hub", slug="logistics", topics=("Warehouse",))
    private = make.community("private", manager=manager, name="Beta Program", slug="beta", topics=("Prototypes",))
    people = {
        "admin": make.admin(name="Ada Admin"),
        "social": social,
        "manager": manager,
        "employee": make.user("employee", name="Eve Employee"),
        "insider": make.user("employee", name="Ian Insider"),
        "customer": make.user("customer", name="Carla Customer"),
        "beta_customer": make.user("customer", name="Bert Beta"),
        "partner": make.user("partner", name="Pieter Partner"),
        "suspended": make.user("employee", name="Sam Suspended"),
    }
    make.member(open_c, people["customer"])
    make.member(open_c, people["beta_customer"])
    make.member(private, people["insider"])
    make.member(private, people["beta_customer"])
    p_open = make.post(social, open_c, title="Free returns for tents", body="Customers ask to return a **tent** for free.", kind="idea")
    p_internal = make.post(social, internal, title="Tent warehouse capacity", body="The tent shelves are full.")
    p_private = make.post(manager, private, title="Tarpaulin tent prototype", body="A secret tarpaulin prototype tent.")
    search.sync()
    people = {k: fresh(v) for k, v in people.items()}
    user = people["suspended"]
    user.suspended_until = clock.utcnow() + timedelta(days=3)
    db.session.commit()
    return {"people": people, "open": fresh(open_c), "internal": fresh(internal), "private": fresh(private),
            "posts": {"open": p_open.id, "internal": p_internal.id, "private": p_private.id}}


# --- the change log -----------------------------------------------------------------------------

def test_change_rows_are_written_in_the_same_transaction_and_vanish_on_rollback(world):
    social = world["people"]["social"]
    before = db.session.scalar(select(func.max(SearchChange.id)))
    post = Post(community_id=world["open"].id, author_id=social.id, kind="discussion", title="Never committed",
                body="", body_html="", vote_count=0, comment_count=0, view_count=0, hot=0.0)
    db.session.add(post)
    db.session.flush()
    assert (f"post:{post.id}", "upsert") in _changes()  # same transaction sees its row
    db.session.rollback()
    assert db.session.scalar(select(func.max(SearchChange.id))) == before
    search.sync()
    assert search.search(social, "committed").total == 0


def test_a_committed_post_reaches_the_index_through_the_log(world, make):
    social = world["people"]["social"]
    p = make.post(social, world["open"], title="Waterproof zipper repair", body="How do I fix a zipper?", kind="question")
    assert (f"post:{p.id}", "upsert") in _changes()
    assert search.search(social, "zipper").total == 0  # not applied yet
    search.sync()
    page = search.search(social, "zipper")
    assert _ids(page) == {p.id}


def test_changes_that_do_not_matter_write_no_rows(world):
    social = world["people"]["social"]
    post = db.session.get(Post, world["posts"]["open"])
    n = len(_changes())
    posts.mark_read(social, post)  # a view counter (bulk UPDATE of view_count) and a read marker
    reads.flush()  # written now
    assert len(_changes()) == n
    comments.add(world["people"]["customer"], post.id, "Me too!")  # touches the post's activity and counter
    new = _changes()[n:]
    assert [d for d, _op in new if d.startswith("post:")] == []
    assert any(d.startswith("comment:") for d, _op in new)


def test_bulk_vote_counter_updates_are_captured(world, make):
    customer = world["people"]["customer"]
    pid = world["posts"]["open"]
    n = len(_changes())
    ideas.toggle_vote(customer, pid)  # UPDATE posts SET vote_count = vote_count + 1 (bypasses the flush)
    assert (f"post:{pid}", "upsert") in _changes()[n:]
    other = make.post(world["people"]["social"], world["open"], title="Tent pegs in the box", body="tent pegs", kind="idea")
    search.sync()
    page = search.search(customer, "tent", sort="votes", filters={"type": "post"})
    assert [i.pk for i in page.items][:1] == [pid] and other.id in _ids(page)


def test_hand_written_sql_can_record_a_change(world):
    pid = world["posts"]["open"]
    with capture.paused(db.session):
        db.session.execute(update(Post).where(Post.id == pid).values(title="Renamed behind the listeners"))
    db.session.commit()
    search.sync()
    assert search.search(world["people"]["social"], "listeners").total == 0
    capture.changed(f"post:{pid}")
    db.session.commit()
    search.sync()
    assert _ids(search.search(world["people"]["social"], "listeners")) == {pid}


# --- the indexer ----------------------------------------------------------------------------------

def test_indexer_applies_in_order_and_moves_its_cursor(world, make):
    social = world["people"]["social"]
    p = make.post(social, world["open"], title="Backpack straps tear", body="The straps tear.")
    posts.edit(social, p.id, "Backpack buckles break", "The buckles break.", [topic_of(world["open"]).id])
    posts.delete(social, p.id)
    posts.restore(social, p.id)
    latest = indexer.latest_change_id()
    path = store.current_dir()
    assert store.read_cursor(path).position < latest
    report = indexer.apply_pending()
    assert report.position == latest == store.read_cursor(path).position
    assert search.search(social, "straps").total == 0
    assert _ids(search.search(social, "buckles")) == {p.id}
    n = len(_changes())
    posts.delete(social, p.id)
    assert (f"post:{p.id}", "upsert") in _changes()[n:]
    search.sync()
    assert search.search(social, "buckles").total == 0


def test_a_deleted_post_takes_its_comments_out_and_a_restore_brings_them_back(world):
    social, customer = world["people"]["social"], world["people"]["customer"]
    pid = world["posts"]["open"]
    c = comments.add(customer, pid, "A kayak paddle would be nice too")
    search.sync()
    assert _ids(search.search(customer, "kayak"), "comment") == {c.id}
    posts.delete(social, pid)
    search.sync()
    assert search.search(customer, "kayak").total == 0
    posts.restore(social, pid)
    search.sync()
    assert _ids(search.search(customer, "kayak"), "comment") == {c.id}
    comments.delete(customer, c.id)
    search.sync()
    assert search.search(customer, "kayak").total == 0


def test_renamed_people_and_topics_reach_the_documents_that_copy_them(world):
    social = world["people"]["social"]
    person = fresh(social)
    person.handle = "sofia.renamed"
    db.session.commit()
    topic = db.session.get(Topic, topic_of(world["open"]).id)
    communities.update_topic(social, world["open"].slug, topic.slug, "Refunds", "")
    search.sync()
    assert world["posts"]["open"] in _ids(search.search(social, "author:sofia.renamed"))
    assert _ids(search.search(social, "topic:refunds")) == {world["posts"]["open"]}
    assert search.search(social, "topic:returns").total == 0


def test_a_locked_index_skips_the_round_and_searches_keep_working(world, make):
    social = world["people"]["social"]
    make.post(social, world["open"], title="Sleeping bag zipper", body="zip")
    path = store.current_dir()
    writer = store.open_index(path).writer()  # someone else holds Whoosh's write lock
    try:
        report = indexer.apply_pending()
        assert report.skipped and "lock" in report.skipped
        assert search.search(social, "tent").total >= 1 and search.search(social, "tent").error is None
    finally:
        writer.cancel()
    search.sync()
    assert search.search(social, "sleeping").total == 1


def test_embedded_poller_follows_the_log(world, make):
    from app.services.platform import jobs

    social = world["people"]["social"]
    p = make.post(social, world["open"], title="Stove fuel canister", body="gas")
    assert jobs.run_pollers() >= 1
    assert _ids(search.search(social, "canister")) == {p.id}


# --- queries --------------------------------------------------------------------------------------

@pytest.fixture
def corpus(world, make):
    s = world["people"]["social"]
    o = world["open"]
    made = {
        "red": make.post(s, o, title="Red tent fabric fades", body="The red fabric fades in the sun.", kind="idea"),
        "green": make.post(s, o, title="Green tent for families", body="A big green tent with two rooms.", kind="idea"),
        "boots": make.post(s, o, title="Boots leak after a month", body="My walking boots leak at the seam.", kind="question"),
        "returns": make.post(s, o, title="Returned boots never refunded", body="I returned boots in May.", kind="discussion"),
    }
    ideas.change_status(s, made["green"].id, "planned", "We will make it.")
    search.sync()
    return {k: v.id for k, v in made.items()}


@pytest.mark.parametrize("q,expect", [
    ("tent fabric", {"red"}),
    ("tent OR boots", {"red", "green", "boots", "returns"}),
    ("tent NOT red", {"green"}),
    ("tent -red", {"green"}),
    ('"green tent"', {"green"}),
    ('"tent green"', set()),
    ("(red OR green) AND fabric", {"red"}),
    ("refun*", {"returns"}),
    ("refunds", {"returns"}),  # stemming: refunded
    ("leeks~", {"boots"}),  # one typo allowed with ~
    ("fabirc~", {"red"}),  # a swap of two letters is one typo
    ("status:planned", {"green"}),
    ('status:"under review"', set()),
    ("kind:question", {"boots"}),
    ("kind:ideas tent", {"red", "green"}),
    ("title:boots", {"boots", "returns"}),
    ("topic:returns boots", {"boots", "returns"}),
    ("community:customer-ideas fabric", {"red"}),
    ('community:"customer ideas" fabric', {"red"}),
    ("author:sofia boots", set()),
])
def test_query_syntax(world, corpus, q, expect):
    social = world["people"]["social"]
    handle = social.handle
    q = q.replace("author:sofia", f"author:{handle}x")
    page = search.search(social, q, filters={"type": "post"})
    assert page.error is None, page.error
    assert _ids(page) - set(world["posts"].values()) == {corpus[k] for k in expect}


def test_author_field_finds_the_authors_posts(world, corpus):
    social = world["people"]["social"]
    page = search.search(social, f"author:{social.handle} boots")
    assert _ids(page) == {corpus["boots"], corpus["returns"]}


@pytest.mark.parametrize("q,message", [
    ('"free returns', "quote"),
    ("(tent OR boots", "brackets"),
    ("colour:red", "no field"),
    ("*", "two letters"),
    ("t*", "two letters"),
    ("AND OR", "join words"),
    ("tent AND", "needs a word"),
    ("status:someday", "status:"),
    ("kind:poll", "kind:"),
    ("type:robots", "type:"),
    ("community:nowhere tent", "No community"),
    ("x" * 400, "too long"),
    ("the a", "too common"),
    ("-tent", "leave words out"),
    ("NOT tent", "leave words out"),
])
def test_queries_that_cannot_be_read_get_a_clear_message(world, q, message):
    page = search.search(world["people"]["social"], q)
    assert page.error and message in page.error
    assert page.items == [] and page.total == 0


def test_a_community_the_viewer_cannot_see_is_not_confirmed_by_the_community_field(world):
    page = search.search(world["people"]["customer"], "community:beta tent")
    assert page.error and "No community" in page.error
    page = search.search(world["people"]["employee"], "community:beta tent")  # employees know it exists
    assert page.error is None and page.total == 0


def test_sorting_and_pagination(world, corpus, make):
    social = world["people"]["social"]
    for i in range(23):
        clock.set_now(clock.utcnow() + timedelta(minutes=1))
        make.post(social, world["open"], title=f"Lantern number {i}", body="lantern")
    search.sync()
    first = search.search(social, "lantern", sort="newest")
    assert first.total == 23 and len(first.items) == 20 and first.pages == 2
    titles = [i.obj.title for i in first.items]
    assert titles[0] == "Lantern number 22" and titles[-1] == "Lantern number 3"
    second = search.search(social, "lantern", sort="newest", page=2)
    assert [i.obj.title for i in second.items] == ["Lantern number 2", "Lantern number 1", "Lantern number 0"]
    assert search.search(social, "lantern", page=999).page == search.MAX_PAGE


def test_highlights_are_pieces_that_the_template_escapes(world, make):
    social = world["people"]["social"]
    p = make.post(social, world["open"], title="<script>alert(1)</script> tent pole", body="A <b>bold</b> tent pole claim.")
    search.sync()
    item = next(i for i in search.search(social, "pole").items if i.pk == p.id)
    assert ("pole", True) in item.title
    assert any(text == "<script>alert(1)</script> tent " and not hit for text, hit in item.title)
    assert any(hit and text.lower() == "pole" for text, hit in item.snippet)


def test_facets_count_what_matches(world, corpus):
    page = search.search(world["people"]["social"], "tent OR boots")
    facets = {f.name: {o.value: o.count for o in f.options} for f in page.facets}
    assert facets["kind"] == {"idea": 3, "question": 1, "discussion": 3}
    assert facets["status"]["planned"] == 1
    assert facets["community"] == {str(world["open"].id): 5, str(world["internal"].id): 1,
                                   str(world["private"].id): 1}
    assert facets["date"]["week"] == 7
    narrowed = search.search(world["people"]["social"], "tent OR boots", filters={"kind": "idea"})
    assert narrowed.total == 3
    topic = search.search(world["people"]["social"], "tent", filters={"topic": str(topic_of(world["open"]).id)})
    assert _ids(topic) == {world["posts"]["open"], corpus["red"], corpus["green"]}
    tabs = {t.type: t.count for t in narrowed.tabs}
    assert tabs[None] == 3 and tabs["post"] == 3


def test_ranking_and_facets_are_whooshs_own_over_several_segments_with_deletions(world, corpus, make):
    """The engine scores only the documents left after the permission filter and counts facets
    from cached columns; both must give exactly what Whoosh itself gives: the same documents in
    the same order with the same scores (title boost, several segments, deleted documents), and
    facet counts equal to counting every matching document one by one."""
    from collections import Counter

    from app.search import query as engine

    social = world["people"]["social"]
    words = ["tent", "lantern", "stove", "tent tent lantern", "stove lantern tent", "tent stove"]
    made = []
    for batch in range(3):  # each sync writes a segment
        for i in range(12):
            body = " ".join(words[(i * 7 + batch + k) % len(words)] for k in range(1 + i % 4))
            made.append(make.post(social, world["internal" if i % 5 == 0 else "open"], title=f"{words[i % 6]} {batch}-{i}", body=body, kind=("idea", "question", "discussion")[i % 3]))
        search.sync()
    for victim in made[::7]:  # deleted documents inside the segments
        posts.delete(fresh(social), victim.id)
    search.sync()
    customer = world["people"]["customer"]  # reads the open community only
    perms = search.permissions(fresh(customer))
    with store.searcher() as searcher:
        assert len(list(searcher.leaf_searchers())) > 1
        allowed = engine.restriction(searcher, perms)
        for text in ("tent", "lantern stove", "tent OR stove", "title:lantern", "tent NOT stove"):
            q, _notes = engine.parse(searcher.schema, text)
            expected = searcher.search(q, limit=None, **allowed.kwargs())
            want = [(expected.docnum(i), expected.score(i)) for i in range(expected.scored_length())]
            outcome = engine.search(searcher, perms, text, per_page=100, suggest=False)
            assert outcome.total == len(want), text
            got = [(searcher.document_number(id=h.doc_id), h.score) for h in outcome.hits]
            assert [d for d, _s in got] == [d for d, _s in want], text
            assert all(abs(a - b) < 1e-9 for (_d, a), (_e, b) in zip(got, want)), text
            rows = [db.session.get(Post, int(searcher.stored_fields(d)["id"].split(":")[1])) for d, _s in want]
            by_hand = {"kind": Counter(p.kind.value for p in rows),
                       "community": Counter(str(p.community_id) for p in rows),
                       "status": Counter(p.status.value for p in rows if p.status is not None)}
            for name, counts in by_hand.items():
                assert dict(outcome.facets[name]) == dict(counts), (text, name)
        # with a facet in use, the other facets count only what passes it
        q, _notes = engine.parse(searcher.schema, "tent")
        narrowed = engine.search(searcher, perms, "tent", filters={"kind": "idea"}, per_page=100, suggest=False)
        every = engine.search(searcher, perms, "tent", per_page=100, suggest=False)
        assert narrowed.total == dict(every.facets["kind"])["idea"]
        assert dict(narrowed.facets["kind"]) == dict(every.facets["kind"])  # its own facet keeps every option


def test_did_you_mean_and_automatic_correction(world, corpus):
    social = world["people"]["social"]
    page = search.search(social, "fabrik")
    assert page.corrected_from == "fabrik" and page.query == "fabric" and _ids(page) == {corpus["red"]}
    exact = search.search(social, "fabrik", correct=False)
    assert exact.total == 0 and exact.suggestion == "fabric"


def test_people_communities_and_topics_are_searchable(world):
    customer = world["people"]["customer"]
    page = search.search(customer, "Sofia")
    assert world["people"]["social"].id in _ids(page, "person")
    assert _ids(search.search(customer, "customer ideas"), "community") == {world["open"].id}
    assert _ids(search.search(customer, "packaging"), "topic") == {
        db.session.scalar(select(Topic.id).where(Topic.name == "Packaging"))}


def test_an_unavailable_index_is_a_message_not_an_error(world):
    import shutil

    shutil.rmtree(store.current_dir())
    page = search.search(world["people"]["social"], "tent")
    assert page.unavailable and "being rebuilt" in page.unavailable and page.total == 0
    assert search.similar_posts(world["people"]["social"], "Free returns for tents") == []
    assert indexer.poll() == 1  # the worker builds it
    assert search.search(world["people"]["social"], "tent").total == 3


def test_a_corrupt_index_rebuilds_itself(world):
    path = store.current_dir()
    for f in path.iterdir():
        if f.name.endswith(".toc"):
            f.write_bytes(b"garbage")
    store.forget_searchers()
    page = search.search(world["people"]["social"], "tent")
    assert page.unavailable
    indexer._state["next_rebuild_check"] = 0
    assert indexer.poll() == 1
    assert store.current_dir() != path
    assert search.search(world["people"]["social"], "tent").total == 3


def test_a_changed_language_rebuilds(world, app):
    app.config["KRING_SEARCH_LANGUAGE"] = "nl"
    try:
        assert store.outdated(store.current_dir())
        assert search.search(world["people"]["social"], "tent").unavailable
        indexer._state["next_rebuild_check"] = 0
        indexer.poll()
        assert store.meta(store.current_dir())["language"] == "nl"
        assert search.search(world["people"]["social"], "tent").total == 3
    finally:
        app.config["KRING_SEARCH_LANGUAGE"] = "en"


# --- permissions ----------------------------------------------------------------------------------

PEOPLE = ["admin", "social", "manager", "employee", "insider", "customer", "beta_customer", "partner", "suspended"]


@pytest.mark.parametrize("who", PEOPLE)
def test_every_kind_of_person_sees_exactly_what_they_may_read(world, who):
    viewer = world["people"][who]
    page = search.search(viewer, "tent")
    expected = {pid for pid in world["posts"].values() if access.can_read_post(viewer, db.session.get(Post, pid))}
    assert _ids(page) == expected
    assert page.total == len(expected)
    tabs = {t.type: t.count for t in page.tabs}
    assert tabs.get(None, 0) == len(expected) == tabs.get("post", 0)
    community_facet = next((f for f in page.facets if f.name == "community"), None)
    counted = {int(o.value) for o in community_facet.options} if community_facet else set()
    assert counted == {db.session.get(Post, pid).community_id for pid in expected}
    secret = search.search(viewer, "tarpaulim", correct=False)  # a typo of a word only the private post has
    may_read_private = world["posts"]["private"] in expected
    assert (secret.suggestion == "tarpaulin") is may_read_private
    assert search.search(viewer, "tarpaulin").total == (1 if may_read_private else 0)


@pytest.mark.parametrize("who", PEOPLE)
def test_people_and_communities_follow_the_directory_rules(world, who):
    viewer = world["people"][who]
    people_page = search.search(viewer, "type:person", filters={})
    assert people_page.error is None
    visible = set(db.session.scalars(select(User.id).where(access.people_clause(viewer))))
    assert _ids(people_page, "person") == visible
    community_page = search.search(viewer, "type:community")
    discoverable = set(db.session.scalars(select(Community.id).where(access.discoverable_clause(viewer))))
    assert _ids(community_page, "community") == discoverable


def test_removed_member_loses_private_results_at_once(world):
    beta = world["people"]["beta_customer"]
    assert world["posts"]["private"] in _ids(search.search(beta, "tent"))
    communities.remove_member(world["people"]["manager"], "beta", beta.id)
    page = search.search(beta, "tent")  # no indexer round in between
    assert world["posts"]["private"] not in _ids(page)
    assert page.total == 1
    assert {o.value for f in page.facets if f.name == "community" for o in f.options} == {str(world["open"].id)}
    assert search.search(beta, "tarpaulin").total == 0
    # and the insider, who shared only the private community with them, is no longer findable
    assert world["people"]["insider"].id not in _ids(search.search(beta, "Ian"), "person")


def test_a_visibility_change_needs_no_reindex(world):
    customer = world["people"]["customer"]
    assert world["posts"]["open"] in _ids(search.search(customer, "tent"))
    communities.update(world["people"]["social"], "customer-ideas", name="Customer Ideas", description="",
                       visibility="private")
    n = len(_changes())
    page = search.search(customer, "tent")
    assert world["posts"]["open"] in _ids(page)  # still a member: private communities show to members
    communities.remove_member(world["people"]["social"], "customer-ideas", customer.id)
    assert search.search(customer, "tent").total == 0
    assert [d for d, _ in _changes()[n:] if d.startswith("post:")] == []  # nothing to reindex


def test_a_post_moved_from_internal_to_open_follows_the_move(world, caplog):
    customer = world["people"]["customer"]
    pid = world["posts"]["internal"]
    assert pid not in _ids(search.search(customer, "tent"))
    post = db.session.get(Post, pid)
    post.community_id, post.topics = world["open"].id, []
    db.session.commit()
    search.sync()
    assert pid in _ids(search.search(customer, "warehouse"))
    # and back: until the indexer runs, the database check keeps it hidden (and says why)
    post = db.session.get(Post, pid)
    post.community_id = world["internal"].id
    db.session.commit()
    with caplog.at_level(logging.INFO, logger="app.services.search"):
        page = search.search(customer, "warehouse")
    assert pid not in _ids(page)
    assert "still being indexed" in caplog.text and "index is wrong" not in caplog.text
    search.sync()
    assert search.search(customer, "warehouse").total == 0


def test_a_hit_dropped_by_the_database_check_is_logged_as_an_error(world, caplog):
    pid = world["posts"]["internal"]
    db.session.execute(update(Post).where(Post.id == pid).values(community_id=world["open"].id))
    db.session.commit()
    search.sync()  # the index knows the post is in the open community
    with capture.paused(db.session):  # a move the index never hears of: the index is now wrong
        db.session.execute(update(Post).where(Post.id == pid).values(community_id=world["internal"].id))
        db.session.commit()
    with caplog.at_level(logging.ERROR, logger="app.services.search"):
        page = search.search(world["people"]["customer"], "warehouse")
    assert pid not in _ids(page)
    assert f"post:{pid}" in caplog.text and "index is wrong" in caplog.text


# --- similar posts ----------------------------------------------------------------------------------

def test_similar_posts_only_among_what_the_author_may_read(world):
    customer = world["people"]["customer"]
    found = search.similar_posts(customer, "Tent returns for free?")
    assert [s.post.id for s in found] == [world["posts"]["open"]]
    assert found[0].can_vote and not found[0].voted
    ideas.toggle_vote(customer, world["posts"]["open"])
    search.sync()
    assert search.similar_posts(customer, "Tent returns for free?")[0].voted
    employee_found = {s.post.id for s in search.similar_posts(world["people"]["employee"], "tent warehouse")}
    assert world["posts"]["internal"] in employee_found and world["posts"]["private"] not in employee_found
    assert search.similar_posts(customer, "ab") == []


# --- saved searches and alerts --------------------------------------------------------------------

def test_saved_search_alerts_once_per_item(world, make):
    customer, social = world["people"]["customer"], world["people"]["social"]
    saved = search.save(customer, "", "tent OR tents")
    assert saved.name == "tent OR tents" and saved.alerts
    p = make.post(social, world["open"], title="Ultralight tent review", body="It is light.")
    make.post(social, world["internal"], title="Tent inventory", body="count")  # not readable for them
    search.sync()
    mine = list(db.session.scalars(select(Notification).where(Notification.user_id == customer.id,
                                                               Notification.kind == "saved_search")))
    assert [(n.post_id, n.comment_id) for n in mine] == [(p.id, None)]
    assert "Ultralight tent review" in mine[0].text
    # an edit that still matches, and a replayed indexer round, do not alert again
    posts.edit(social, p.id, "Ultralight tent review, updated", "It is very light.", [topic_of(world["open"]).id])
    search.sync()
    search.deliver_alerts([indexer._build([f"post:{p.id}"])[f"post:{p.id}"]])
    assert db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.user_id == customer.id, Notification.kind == "saved_search")) == 1
    assert db.session.scalar(select(func.count()).select_from(SavedSearchHit)) == 1
    # comments match too; one's own content never alerts
    c = comments.add(social, p.id, "Tent poles are aluminium")
    make.post(customer, world["open"], title="My own tent story", body="mine")
    search.sync()
    kinds = [(n.post_id, n.comment_id) for n in db.session.scalars(
        select(Notification).where(Notification.user_id == customer.id, Notification.kind == "saved_search"))]
    assert sorted(kinds, key=str) == sorted([(p.id, None), (p.id, c.id)], key=str)


def test_old_content_and_switched_off_alerts_do_not_notify(world, make):
    customer = world["people"]["customer"]
    saved = search.save(customer, "Quiet", "zipper", alerts=False)
    make.post(world["people"]["social"], world["open"], title="Zipper stuck", body="zip")
    search.sync()
    assert db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.kind == "saved_search")) == 0
    search.update_saved(customer, saved.id, name="Loud", text="zipper", alerts=True)
    capture.changed(f"post:{world['posts']['open']}")  # an old post re-indexed: not new content
    db.session.commit()
    search.sync()
    assert db.session.scalar(select(func.count()).select_from(Notification).where(
        Notification.kind == "saved_search")) == 0


def test_alert_email_follows_the_preferences(world, make):
    customer = world["people"]["customer"]
    notifications.set_preferences(customer, {k: {"in_app": True, "email": k == "saved_search"}
                                             for k in notifications.KINDS})
    search.save(customer, "Stoves", "stove")
    mail.outbox().clear()
    make.post(world["people"]["social"], world["open"], title="Camping stove recall", body="stove")
    search.sync()
    from app.services.platform import jobs

    jobs.drain()
    assert any("Camping stove recall" in m["Subject"] for m in mail.outbox())
    assert db.session.scalar(select(NotificationSetting.email).where(
        NotificationSetting.user_id == customer.id, NotificationSetting.kind == "saved_search"))


def test_managers_watch_the_communities_they_manage(world, make):
    manager, social = world["people"]["manager"], world["people"]["social"]
    assert search.can_save_managed(manager) and not search.can_save_managed(world["people"]["employee"])
    with pytest.raises(Exception) as err:
        search.save(world["people"]["employee"], "x", "tent", scope="managed")
    assert "scope" in err.value.errors
    search.save(manager, "My communities", "prototype OR tent", scope="managed")
    in_beta = make.post(social, world["private"], title="Second prototype tent", body="v2")
    make.post(social, world["open"], title="Prototype tent in the shop", body="open one")  # readable, but not theirs
    search.sync()
    told = [n.post_id for n in db.session.scalars(select(Notification).where(
        Notification.user_id == manager.id, Notification.kind == "saved_search"))]
    assert told == [in_beta.id]


def test_saved_searches_belong_to_their_owner(world):
    customer = world["people"]["customer"]
    saved = search.save(customer, "Mine", "tent", {"kind": "idea", "bogus": "x"})
    assert saved.filters == {"kind": "idea"}
    with pytest.raises(Exception) as err:
        search.saved_for(world["people"]["partner"], saved.id)
    assert type(err.value).__name__ == "NotFound"
    with pytest.raises(Exception) as err:
        search.save(customer, "Bad", '"open quote')
    assert "query" in err.value.errors
    search.delete_saved(customer, saved.id)
    assert search.list_saved(customer) == []


# --- search log -------------------------------------------------------------------------------------

def test_searches_and_zero_result_searches_are_recorded(world):
    customer = world["people"]["customer"]
    search.search(customer, "tent", filters={"kind": "idea"})
    search.search(customer, "unicorn", correct=False)
    search.search(customer, "tent", page=2)  # later pages are not new searches
    rows = list(db.session.scalars(select(SearchLog).order_by(SearchLog.id)))
    assert [(r.user_id, r.query, r.result_count, r.filters) for r in rows] == [
        (customer.id, "tent", 1, {"kind": "idea"}), (customer.id, "unicorn", 0, {})]
    assert [s.query for s in search.popular_queries(zero_only=True)] == ["unicorn"]
    corrected = search.search(customer, "tnet")  # shows the results of the correction...
    assert corrected.corrected_from == "tnet" and corrected.total > 0
    row = db.session.scalar(select(SearchLog).order_by(SearchLog.id.desc()).limit(1))
    assert (row.query, row.result_count) == ("tnet", 0)  # ...but "tnet" itself found nothing
    assert row.filters["corrected"] == corrected.query


# --- rebuild and check ------------------------------------------------------------------------------

def test_check_reports_and_fixes_differences(world):
    social = world["people"]["social"]
    assert rebuild.check().ok
    pid = world["posts"]["open"]
    with capture.paused(db.session):
        db.session.execute(update(Post).where(Post.id == pid).values(title="Changed quietly"))
        hidden = Post(community_id=world["open"].id, author_id=social.id, kind="discussion", title="Unseen post",
                      body="", body_html="", vote_count=0, comment_count=0, view_count=0, hot=0.0)
        db.session.add(hidden)
        db.session.flush()
        db.session.execute(update(Comment).where(Comment.id == -1).values(body="x"))
        db.session.commit()
    report = rebuild.check()
    assert report.stale == [f"post:{pid}"] and report.missing == [f"post:{hidden.id}"] and not report.ok
    rebuild.check(fix=True)
    search.sync()
    assert rebuild.check().ok


def test_rebuild_swaps_in_a_fresh_index(world):
    old = store.current_dir()
    report = rebuild.rebuild(procs=1)
    assert store.current_dir() == report.path != old
    assert report.documents == rebuild.check().expected
    assert search.search(world["people"]["social"], "tent").total == 3
