"""Proof that search shows nobody what they may not read or discover (issue 13): every
document type of the index x every kind of person (11) x every way a search answers (hits,
totals, tab counts, facets and their labels, "did you mean", similar posts), against a model
of the product rules written here, independent of app.services.access.

The world (tests/proof_world.py, extended here) gets a marker word unique to each field and
visibility, planted in an internal and a private community (and, as a control, an open one):
the community's name and description, its topic's name and description, an expert's note on
that topic, a post's title and body, a comment, a chat message, and the profile of a person who
belongs to that community only. One more word, COMMON, is in every one of those documents, so
the exact totals and tab counts of one search can be predicted for each person.

Rules (see app/services/access.py): a community's own document (name, description) is shown to
whoever may *discover* it (its readers, and every employee); everything inside it (topics,
experts of its topics, posts, comments, chat) only to who may *read* it; a person's document to
who may see the person (employees: everyone; customers and partners: themselves and people
they share a community with), and it carries nothing of the communities they belong to.
"""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from tests import proof_world as pw
from tests.conftest import login

COMMON = "zqeverywherezq"
PLANTED = "zqplantzq"  # in the titles of the planted posts (similar posts)
# field -> (document type, rule: "discover" | "read" | "person")
FIELDS = {
    "cname": ("community", "discover"), "cdesc": ("community", "discover"),
    "tname": ("topic", "read"), "tdesc": ("topic", "read"),
    "xnote": ("expert", "read"),
    "ptitle": ("post", "read"), "pbody": ("post", "read"),
    "comment": ("comment", "read"), "chat": ("message", "read"),
    "bio": ("person", "person"),
}
# the eleven kinds of person; the role personas hold their role in one community ("home")
KINDS = ("anonymous", "customer", "partner", "customer_member", "employee", "member", "moderator", "manager",
         "social_team", "management", "admin")
EMPLOYEES = {"employee", "member", "moderator", "manager", "social_team", "management", "admin"}
STAFF = {"social_team", "admin"}


def word(field: str, vis: str) -> str:
    return f"mk{field}{vis}zq"


# --- the model --------------------------------------------------------------------------------

def communities_of(kind: str, home: str) -> set[str]:
    """The communities (by visibility) the person belongs to in this world."""
    return {"customer": {"open"}, "partner": {"open"}, "customer_member": {"open", "private"},
            "member": {home}, "moderator": {home}, "manager": {home}}.get(kind, set())


def may_read(kind: str, home: str, vis: str) -> bool:
    if kind == "anonymous":
        return False
    if kind in STAFF or vis == "open":
        return True
    if vis == "internal":
        return kind in EMPLOYEES
    return vis in communities_of(kind, home)  # private: members only


def may_discover(kind: str, home: str, vis: str) -> bool:
    return may_read(kind, home, vis) or kind in EMPLOYEES


def may_see_person_of(kind: str, home: str, vis: str) -> bool:
    """The person planted for `vis` belongs to that community only."""
    if kind == "anonymous":
        return False
    return kind in EMPLOYEES or vis in communities_of(kind, home)


def visible(kind: str, home: str, field: str, vis: str) -> bool:
    rule = FIELDS[field][1]
    if rule == "discover":
        return may_discover(kind, home, vis)
    if rule == "person":
        return may_see_person_of(kind, home, vis)
    return may_read(kind, home, vis)


# --- the world ----------------------------------------------------------------------------------

class SearchWorld:
    def __init__(self, world, people, planted_posts):
        self.world = world
        self.people = people            # (kind, home) -> User or None
        self.planted_posts = planted_posts  # vis -> post id

    def viewers(self):
        for kind in KINDS:
            for home in (pw.VISIBILITIES if kind in pw.ROLE_PERSONAS else ("open",)):
                yield kind, home, self.people[(kind, home)]


def build(app, make) -> SearchWorld:
    from app.models import Community, Topic, User
    from app.services import chat
    from app.services.community import communities
    from app.services.content import comments, posts
    from app.services.experts import experts
    from app.services.people import accounts

    world = pw.build(app, make)
    social = make.user("employee", name="Sally Social", is_global_manager=True)
    boss = make.user("employee", name="Boris Boss")
    insider = make.user("customer", name="Cleo Member")
    expert = make.user("employee", name="Xena Expert")  # an expert everywhere, seen by every external
    planted_posts = {}
    with app.app_context():
        admin = db.session.get(User, world.people["admin"].id)
        accounts.set_global_roles(admin, db.session.get(User, boss.id), is_admin=False, is_global_manager=False,
                                  is_management=True)
        for who in (world.people["customer"], world.people["partner"], insider, expert):
            communities.add_member(admin, "proof-open", db.session.get(User, who.id))
        communities.add_member(admin, "proof-private", db.session.get(User, insider.id))
        for vis in ("internal", "private"):
            communities.add_member(admin, f"proof-{vis}", db.session.get(User, expert.id))
        for vis, place in world.places.items():
            community = db.session.get(Community, place.community_id)
            community.name = f"Proof {vis.title()} {word('cname', vis)}"
            community.description = f"About {word('cdesc', vis)} {COMMON}"
            topic = db.session.get(Topic, place.topic_id)
            topic.name = f"Topic {vis.title()} {word('tname', vis)}"
            topic.description = f"Covers {word('tdesc', vis)} {COMMON}"
            mel = db.session.get(User, place.people["member"].id)  # a member of this community only
            mel.bio = f"Works on {word('bio', vis)} {COMMON}"
            db.session.commit()
            manager = db.session.get(User, place.people["manager"].id)
            experts.assign(manager, place.slug, place.topic_slug, db.session.get(User, expert.id),
                           f"Knows {word('xnote', vis)} {COMMON}")
            post = posts.create(manager, place.slug, "discussion", f"{word('ptitle', vis)} {PLANTED} {COMMON}",
                                f"Body {word('pbody', vis)} {COMMON}", [place.topic_id])
            planted_posts[vis] = post.id
            comments.add(manager, post.id, f"Said {word('comment', vis)} {COMMON}")
            chat.post(manager, place.community_id, f"Chat {word('chat', vis)} {COMMON}")
            db.session.commit()
    people = {("anonymous", "open"): None, ("customer", "open"): world.people["customer"],
              ("partner", "open"): world.people["partner"], ("customer_member", "open"): insider,
              ("employee", "open"): world.people["employee"], ("social_team", "open"): social,
              ("management", "open"): boss, ("admin", "open"): world.people["admin"]}
    for kind in pw.ROLE_PERSONAS:
        for vis in pw.VISIBILITIES:
            people[(kind, vis)] = world.places[vis].people[kind]
    pw.sync_search(app)
    return SearchWorld(world, people, planted_posts)


@pytest.fixture
def sworld(app, make):
    return build(app, make)


def _texts(page) -> list[str]:
    """Every text the search page would show but what was typed: hits, facet labels, tabs, the
    suggestion and a correction."""
    out = [page.suggestion or "", page.query if page.corrected_from else ""]
    for item in page.items:
        out += [t for t, _m in item.title] + [t for t, _m in item.snippet]
        obj = item.obj
        for attr in ("name", "title", "description", "bio"):
            out.append(str(getattr(obj, attr, "") or ""))
        for value in item.context.values():
            out += [str(getattr(value, "name", "") or ""), str(getattr(value, "title", "") or "")]
    for facet in page.facets:
        out += [o.label for o in facet.options]
    out += [t.label for t in page.tabs]
    return out


def _banned(kind: str, home: str) -> list[str]:
    return [word(f, v) for f in FIELDS for v in pw.VISIBILITIES if not visible(kind, home, f, v)]


# --- the properties -------------------------------------------------------------------------------

def test_the_world_plants_every_document_type(sworld, app):
    """A new document type fails here until it gets markers (and so a rule checked below)."""
    from app.search import registry

    assert {t for t, _rule in FIELDS.values()} == {t.name for t in registry.doc_types()}
    for t in registry.doc_types():
        assert t.rule in registry.RULES


def test_every_word_is_found_exactly_by_who_may_see_it(sworld, app):
    """Each marker, as typed, as a prefix, in an OR with a word found nowhere (uncorrected),
    and misspelt: found (total, tabs) iff the model says so; nothing shown names a marker the person may not
    see (hits, facet labels such as "topic (community)", tabs, "did you mean")."""
    from app.models import User
    from app.services import search

    failures = []
    with app.app_context():
        for kind, home, person in sworld.viewers():
            who = db.session.get(User, person.id) if person else None
            banned = _banned(kind, home)
            label = f"{kind}/{home}"
            for field in FIELDS:
                for vis in pw.VISIBILITIES:
                    w = word(field, vis)
                    want = visible(kind, home, field, vis)
                    for text in (w, w[:-3] + "*", f"{w} OR zqnowherezq", f"zqnowherezq OR {w[:-4]}*"):
                        page = search.search(who, text, record=False, correct=False)
                        if (page.total > 0) != want:
                            failures.append(f"{label} {text!r}: total {page.total}, model {want}")
                        if sum(t.count for t in page.tabs if t.type) != page.total:
                            failures.append(f"{label} {text!r}: tabs {[(t.type, t.count) for t in page.tabs]}")
                        leaked = {b for b in banned for t in _texts(page) if b in t.lower()}
                        if leaked:
                            failures.append(f"{label} {text!r}: shows {sorted(leaked)}")
                    # one letter off: corrected (or proposed) only into words the person may see
                    typo = search.search(who, w[:-1] + "x", record=False)
                    leaked = {b for b in banned for t in _texts(typo) if b in t.lower()}
                    if leaked:
                        failures.append(f"{label} typo of {w}: shows {sorted(leaked)}")
    assert not failures, "\n".join(failures[:60])


def test_totals_tabs_and_facets_of_a_word_everywhere_follow_the_model(sworld, app):
    """COMMON is in one document of every type in every community: the total and every tab
    count are exact for each person, and the facets only count and name what they may see."""
    from app.models import Community, Topic, User
    from app.search import registry
    from app.services import search

    types = [t.name for t in registry.doc_types()]
    with app.app_context():
        community_vis = {str(p.community_id): v for v, p in sworld.world.places.items()}
        topic_vis = {str(p.topic_id): v for v, p in sworld.world.places.items()}
        assert len(db.session.query(Community).all()) == 3 and len(db.session.query(Topic).all()) == 3
        for kind, home, person in sworld.viewers():
            who = db.session.get(User, person.id) if person else None
            label = f"{kind}/{home}"
            expected = dict.fromkeys(types, 0)
            for field, (doc_type, _rule) in FIELDS.items():
                for vis in pw.VISIBILITIES:
                    if field in ("cname", "tname", "ptitle"):
                        continue  # the same documents as cdesc, tdesc, pbody
                    expected[doc_type] += visible(kind, home, field, vis)
            page = search.search(who, COMMON, record=False, per_page=50)
            assert page.total == sum(expected.values()), (label, page.total, expected)
            tabs = {t.type: t.count for t in page.tabs if t.type}
            assert tabs == {t: n for t, n in expected.items() if n}, (label, tabs, expected)
            assert len(page.items) == page.total, label
            for item in page.items:
                obj_vis = community_vis.get(str(getattr(item.obj, "community_id", "")))
                if item.type == "community":
                    assert may_discover(kind, home, community_vis[str(item.pk)]), (label, item.type, item.pk)
                elif item.type == "expert":
                    assert may_read(kind, home, topic_vis[str(item.obj.topic_id)]), (label, item.pk)
                elif obj_vis is not None:
                    assert may_read(kind, home, obj_vis), (label, item.type, item.pk)
            for facet in page.facets:
                for option in facet.options:
                    assert option.count <= page.total, (label, facet.name, option)
                    if facet.name == "community":
                        assert may_discover(kind, home, community_vis[option.value]), (label, option)
                    if facet.name == "topic":
                        assert may_read(kind, home, topic_vis[option.value]), (label, option)
            # filtering by a community or topic the person may not see counts nothing
            for vis, place in sworld.world.places.items():
                for key, value, rule in (("community", place.community_id, may_read),
                                         ("topic", place.topic_id, may_read)):
                    narrowed = search.search(who, COMMON, filters={key: str(value)}, record=False)
                    if not rule(kind, home, vis):
                        in_it = [i for i in narrowed.items if i.type != "community"]
                        assert not in_it and narrowed.total <= (key == "community"), (label, key, vis, narrowed.total)


def test_similar_posts_follow_the_model(sworld, app):
    from app.models import User
    from app.services import search

    post_vis = {pid: vis for vis, pid in sworld.planted_posts.items()}
    community_vis = {p.community_id: v for v, p in sworld.world.places.items()}
    with app.app_context():
        for kind, home, person in sworld.viewers():
            if person is None:
                assert search.similar_posts(None, f"{PLANTED} {COMMON}") == []
                continue
            who = db.session.get(User, person.id)
            found = search.similar_posts(who, f"{PLANTED} {COMMON} ideas", limit=10)
            planted = {s.post.id for s in found if s.post.id in post_vis}
            want = {pid for pid, vis in post_vis.items() if may_read(kind, home, vis)}
            assert planted == want, (kind, home, planted, want)
            for s in found:
                assert may_read(kind, home, community_vis[s.post.community_id]), (kind, home, s.post.id)


def test_the_search_page_shows_nothing_the_person_may_not_see(sworld, app):
    """The same through the page (every text rendered, including facets and the topic labels)."""
    failures = []
    for kind, home, person in sworld.viewers():
        client = app.test_client()
        if person is not None:
            login(client, person)
        banned = _banned(kind, home)
        for q in (COMMON, "mk*", "topic*", "proof*", "xena"):
            resp = client.get(f"/search?q={q}")
            body = resp.get_data(as_text=True).lower()
            if person is None:
                if resp.status_code != 302:
                    failures.append(f"anonymous /search?q={q}: {resp.status_code}")
                continue
            leaked = [b for b in banned if b in body]
            if resp.status_code != 200 or leaked:
                failures.append(f"{kind}/{home} /search?q={q}: {resp.status_code}, shows {leaked}")
    assert not failures, "\n".join(failures)


def test_expert_documents_follow_their_topic_person_and_assignment(sworld, app):
    """Renaming a topic or its expert, changing the note, removing an expert and deleting a
    topic reach the expert documents (the index then equals the database), and the new words
    are found by the topic's readers only."""
    from app.models import ExpertAssignment, Topic, User
    from app.search import rebuild
    from app.services import search
    from app.services.community import communities
    from app.services.experts import experts

    places = sworld.world.places
    with app.app_context():
        admin = db.session.get(User, sworld.people[("admin", "open")].id)
        private = places["private"]
        communities.update_topic(admin, private.slug, private.topic_slug, "Renamed mkrenamedprivatezq")
        xena = db.session.scalar(select(User).where(User.display_name == "Xena Expert"))
        xena.display_name = "Xandra mkxandraexpertzq"
        note = db.session.scalar(select(ExpertAssignment).join(Topic).where(
            Topic.id == places["open"].topic_id))
        note.note = "Now mknewnoteopenzq"
        db.session.commit()
        internal = places["internal"]
        gone = db.session.scalar(select(ExpertAssignment.id).join(Topic).where(Topic.id == internal.topic_id))
        experts.remove(admin, internal.slug, internal.topic_slug, gone)
        db.session.commit()
        search.sync()
        assert rebuild.check().differences == []
        topic_slug = db.session.get(Topic, private.topic_id).slug
        for kind, home, person in sworld.viewers():
            who = db.session.get(User, person.id) if person else None
            found = search.search(who, "mkrenamedprivatezq", record=False, correct=False)
            assert {i.type for i in found.items} == ({"topic", "expert", "post"} if may_read(kind, home, "private")
                                                     else set()), (kind, home, found.items)
            assert (search.search(who, "mknewnoteopenzq", record=False).total > 0) == may_read(kind, home, "open")
            assert search.search(who, word("xnote", "internal"), record=False, correct=False).total == 0
            xandra = search.search(who, "mkxandraexpertzq", record=False, correct=False)
            want = {"expert"} if may_read(kind, home, "open") else set()
            if person is not None and (kind in EMPLOYEES or kind in {"customer", "partner", "customer_member"}):
                want.add("person")  # Xena is in the open community, where every external here is too
            assert {i.type for i in xandra.items} == want, (kind, home, xandra.items)
            assert all(i.obj.topic_id != internal.topic_id for i in xandra.items if i.type == "expert")
        communities.delete_topic(admin, private.slug, topic_slug)
        search.sync()
        assert rebuild.check().differences == []
        staff = db.session.get(User, sworld.people[("admin", "open")].id)
        assert search.search(staff, "mkrenamedprivatezq", record=False, correct=False).total == 0

