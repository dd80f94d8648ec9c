"""Search use cases: the search page for a viewer, similar posts while writing, saved searches
with alerts, and the search log. Whoosh stays inside app/search; permissions come from
app/services/access/, fresh for every query:

1. `permissions(viewer)` turns access's rules into facts the index filters on (readable
   communities, whether every community and person is visible, the viewer's memberships);
2. the index answers ids, counts, facets and a suggestion, all computed inside that filter;
3. the rows are loaded from the database and checked again through access's clauses (second
   guard). A hit dropped there is logged as an error (the index was wrong), unless the change
   log still holds a change for it that this index copy has not applied yet (it is catching up).

Search pages run a constant number of queries (permissions, the rows of each type shown, the
facet labels, one insert into the search log).

Over 500 lines: search, similar posts, saved searches and alerts share the permission and
presentation code (the index and its query engine are app.search, in modules of their own).
"""
from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import and_, case, delete, exists, func, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload

from app import clock, inputs
from app.errors import NotFound, ValidationError
from app.extensions import db
from app.models import (
    AccountClosure,
    ChatMessage,
    Comment,
    Community,
    Department,
    ExpertAssignment,
    IdeaStatus,
    Membership,
    Post,
    PostKind,
    SavedSearch,
    SavedSearchHit,
    SearchChange,
    SearchLog,
    SiteSetting,
    Topic,
    User,
    UserKind,
    Vote,
)
from app.search import indexer, rebuild, registry, store
from app.search import query as engine
from app.search.alerts import Standing, percolate
from app.search.documents import moment, plain
from app.services import access, notifications
from app.services.content import ideas
from app.services.people import people
from app.services.platform import jobs

log = logging.getLogger(__name__)

PER_PAGE = engine.PER_PAGE
MAX_PAGE = 50
SORTS = {"relevance": "Best match", "newest": "Newest", "votes": "Most votes"}
SAVED_MAX = 50
NAME_MAX = 80
AUTHOR_KINDS = {"employee": "Employees", "customer": "Customers", "partner": "Partners"}
FACET_TITLES = {"community": "Community", "topic": "Topic", "kind": "Kind", "status": "Idea status",
                "author_kind": "Written by", "department": "Department", "date": "Date"}
UNAVAILABLE = ("Search is being rebuilt and will be back in a moment. Everything you post is kept and "
               "will be found once it is ready.")


# --- permissions ------------------------------------------------------------------------------

def permissions(viewer) -> engine.Permissions:
    """What `viewer` may see, as index facts (one or two queries, always fresh)."""
    if not access.is_active_account(viewer):
        return engine.Permissions(active=False)
    if viewer.is_staff:
        return engine.Permissions(active=True, everything=True, self_id=viewer.id)
    readable = frozenset(access.readable_community_ids(viewer))
    if viewer.kind == UserKind.EMPLOYEE:
        return engine.Permissions(active=True, readable=readable, discover_all=True, people_all=True,
                                  self_id=viewer.id)
    member_of = frozenset(db.session.scalars(select(Membership.community_id).where(Membership.user_id == viewer.id)))
    return engine.Permissions(active=True, readable=readable, member_of=member_of, self_id=viewer.id)


AUTHORS_MAX = 50


def people_named(viewer, value: str, fieldname: str = "author") -> engine.Resolved | None:
    """The handles `value` means in a person field (author:anna): a handle, or else the people
    it names best (a whole first or last name before the start of a handle before the start of
    a word of the name; people.name_rank). Several people: all of them, with a note naming
    those the viewer may see (nobody else is named, so the note reveals no one; what their
    handles find is still limited by the permission filter). None when it names nobody."""
    rows = db.session.execute(
        select(User.handle, User.display_name, access.people_clause(viewer).label("visible"))
        .where(people.name_clause(value), ~exists().where(AccountClosure.user_id == User.id))
        .order_by(func.lower(User.display_name), User.handle)).all()
    ranked = [(rank, row) for row in rows if (rank := people.name_rank(value, row.handle, row.display_name)) is not None]
    if not ranked:
        return None
    best = min(rank for rank, _row in ranked)
    chosen = [row for rank, row in ranked if rank == best]
    note = None
    shown = [row for row in chosen if row.visible]
    if len(chosen) > AUTHORS_MAX:
        chosen = chosen[:AUTHORS_MAX]
        note = f"“{fieldname}:{value}” matches too many people: type more of the name or the whole handle."
    elif len(shown) > 1:
        names = ", ".join(f"{row.display_name} (@{row.handle})" for row in shown[:5])
        more = f" and {len(shown) - 5} more" if len(shown) > 5 else ""
        note = (f"“{fieldname}:{value}” matches {len(shown)} people: {names}{more}. Showing all of them; "
                f"use a whole handle, like {fieldname}:{shown[0].handle}, for one.")
    return engine.Resolved([row.handle for row in chosen], note)


def _resolver(viewer):
    """community:…, department:… and person (author:…) values -> index values, among what the
    viewer may see."""
    def resolve(fieldname: str, value: str) -> list[str] | engine.Resolved | None:
        if fieldname in engine.PERSON_FIELDS:
            return people_named(viewer, value, fieldname)
        value = value.strip().lower()
        if fieldname == "community":
            ids = db.session.scalars(select(Community.id).where(
                or_(Community.slug == value, func.lower(Community.name) == value,
                    Community.slug == value.replace(" ", "-")),
                access.discoverable_clause(viewer)))
        elif fieldname == "department":
            ids = db.session.scalars(select(Department.id).where(func.lower(Department.name) == value))
        else:
            return None
        return [str(i) for i in ids] or None
    return resolve


# --- results ----------------------------------------------------------------------------------

@dataclass
class Item:
    """One result as the page shows it."""

    type: str
    pk: int
    link: tuple[str, dict]                   # (endpoint, values) for url_for in the template
    title: list[tuple[str, bool]]            # highlighted pieces (escaped by the template)
    snippet: list[tuple[str, bool]]
    obj: object = None
    context: dict = field(default_factory=dict)


@dataclass
class FacetOption:
    value: str
    label: str
    count: int
    selected: bool


@dataclass
class Facet:
    name: str
    title: str
    options: list[FacetOption]


@dataclass
class Tab:
    type: str | None
    label: str
    count: int
    selected: bool


@dataclass
class SearchPage:
    query: str = ""
    filters: dict = field(default_factory=dict)
    sort: str = "relevance"
    page: int = 1
    per_page: int = PER_PAGE
    total: int = 0
    items: list[Item] = field(default_factory=list)
    facets: list[Facet] = field(default_factory=list)
    tabs: list[Tab] = field(default_factory=list)
    suggestion: str | None = None
    corrected_from: str | None = None   # zero results for this; showing the suggestion's
    error: str | None = None            # the query could not be read
    unavailable: str | None = None      # the index is being (re)built
    notes: list[str] = field(default_factory=list)

    @property
    def pages(self) -> int:
        return max(1, min(MAX_PAGE, (self.total + self.per_page - 1) // self.per_page))

    @property
    def typed(self) -> str:
        """What the person typed (the query before an automatic correction): what a saved
        search keeps, so its alerts follow their words, not our guess."""
        return self.corrected_from or self.query

    @property
    def searched(self) -> bool:
        return bool(self.query) and not self.error and not self.unavailable


FILTER_KEYS = ("type", "community", "topic", "kind", "status", "author_kind", "department", "date")


def clean_filters(raw: dict) -> dict:
    """Keep the filters that make sense; drop anything else silently (they come from links)."""
    out: dict = {}
    types = {t.name for t in registry.doc_types()}
    for key in FILTER_KEYS:
        value = (raw.get(key) or "").strip() if isinstance(raw.get(key), str) else raw.get(key)
        if value in (None, ""):
            continue
        value = str(value)
        ok = {
            "type": value in types,
            "community": value.isdigit(), "topic": value.isdigit(), "department": value.isdigit(),
            "kind": value in {k.value for k in PostKind},
            "status": value in {s.value for s in IdeaStatus},
            "author_kind": value in AUTHOR_KINDS,
            "date": value in {b[0] for b in engine.DATE_BUCKETS},
        }[key]
        if ok:
            out[key] = value
    return out


def search(viewer, text: str, *, filters: dict | None = None, sort: str = "relevance", page: int = 1,
           per_page: int = PER_PAGE, record: bool = True, correct: bool = True) -> SearchPage:
    """One page of results for `viewer`. A query without results whose correction has some shows
    the corrected results (unless `correct` is False). Never raises for bad input: the page
    carries `error` (an unreadable query) or `unavailable` (the index is being built)."""
    text = " ".join((text or "").split())[:engine.MAX_QUERY + 1]
    filters = clean_filters(filters or {})
    sort = sort if sort in SORTS else "relevance"
    page = max(1, min(int(page or 1), MAX_PAGE))
    result = SearchPage(query=text, filters=filters, sort=sort, page=page, per_page=per_page)
    if not text:
        return result
    perms = permissions(viewer)
    language = store.language()
    try:
        with store.searcher() as searcher:
            outcome = engine.search(searcher, perms, text, filters=filters, sort=sort, page=page, per_page=per_page,
                                    resolve=_resolver(viewer))
            if correct and outcome.total == 0 and outcome.suggestion:
                better = engine.search(searcher, perms, outcome.suggestion, filters=filters, sort=sort, page=page,
                                       per_page=per_page, resolve=_resolver(viewer), suggest=False)
                if better.total:
                    result.corrected_from, result.query = text, outcome.suggestion
                    outcome = better
    except engine.QueryError as exc:
        result.error = str(exc)
        return result
    except store.IndexUnavailable as exc:
        log.warning("search unavailable: %s", exc)
        result.unavailable = UNAVAILABLE
        return result
    result.total, result.suggestion, result.notes = outcome.total, outcome.suggestion, outcome.notes
    if record and page == 1:
        # what was typed and what it found by itself (a corrected search found nothing)
        logged = dict(filters, corrected=result.query) if result.corrected_from else filters
        _record(viewer, text, 0 if result.corrected_from else outcome.total, logged, sort)
    result.items = _present(viewer, outcome.hits, outcome.terms, language)
    result.facets = _facets(viewer, outcome.facets, filters)
    result.tabs = _tabs(outcome.type_counts, filters.get("type"))
    return result


def _record(viewer, text: str, total: int, filters: dict, sort: str) -> None:
    """The search log row, in a short transaction of its own: the reads so far are ended first,
    so the insert is the first statement of its transaction (on SQLite it then waits for the
    write lock instead of failing at once), and the rows shown are loaded afterwards."""
    values = {"user_id": getattr(viewer, "id", None), "query": text[:500], "result_count": total,
              "filters": dict(filters, **({"sort": sort} if sort != "relevance" else {})),
              "created_at": clock.utcnow()}
    db.session.rollback()
    try:
        db.session.execute(insert(SearchLog.__table__).values(**values))
        db.session.commit()
    except Exception:  # noqa: BLE001 - never fail a search over its log line
        db.session.rollback()
        log.exception("search: could not record the search")


def _tabs(counts: dict[str, int], selected: str | None) -> list[Tab]:
    tabs = [Tab(None, "All", sum(counts.values()), selected is None)]
    for doc_type in registry.doc_types():
        if counts.get(doc_type.name) or selected == doc_type.name:
            tabs.append(Tab(doc_type.name, doc_type.label, counts.get(doc_type.name, 0), selected == doc_type.name))
    return tabs


def _facets(viewer, raw: dict[str, list[tuple[str, int]]], filters: dict) -> list[Facet]:
    labels: dict[str, dict[str, str]] = {
        "kind": {k.value: k.label for k in PostKind},
        "status": {s.value: s.label for s in IdeaStatus},
        "author_kind": AUTHOR_KINDS,
        "date": {key: label for key, label, _d in engine.DATE_BUCKETS},
    }
    ids = {name: [n for n in (inputs.id_or_none(v) for v, _c in raw.get(name, [])) if n is not None]
           for name in ("community", "topic", "department")}
    # labels (and so options) only for what the viewer may know: a value the index counted for
    # something else is dropped here (second guard), never shown with its name
    if ids["community"]:
        labels["community"] = {str(i): n for i, n in db.session.execute(
            select(Community.id, Community.name).where(Community.id.in_(ids["community"]),
                                                       access.discoverable_clause(viewer)))}
    if ids["topic"]:
        labels["topic"] = {str(i): f"{n} ({c})" for i, n, c in db.session.execute(
            select(Topic.id, Topic.name, Community.name).join(Community, Community.id == Topic.community_id)
            .where(Topic.id.in_(ids["topic"]), access.readable_clause(viewer)))}
    if ids["department"]:
        labels["department"] = {str(i): n for i, n in db.session.execute(
            select(Department.id, Department.name).where(Department.id.in_(ids["department"])))}
    out = []
    for name in ("community", "topic", "kind", "status", "author_kind", "department", "date"):
        options = [FacetOption(value, labels.get(name, {}).get(value, value), count, filters.get(name) == value)
                   for value, count in raw.get(name, []) if value in labels.get(name, {})]
        if name == "date":
            order = [b[0] for b in engine.DATE_BUCKETS]
            options.sort(key=lambda o: order.index(o.value))
        if options:
            out.append(Facet(name, FACET_TITLES[name], options[:12]))
    return out


def _pending_for(doc_ids: list[str]) -> set[str]:
    """Which of these documents have a change this index copy has not applied yet."""
    path = store.current_dir()
    position = store.read_cursor(path).position if path else 0
    return set(db.session.scalars(select(SearchChange.doc_id).where(
        SearchChange.id > position, SearchChange.doc_id.in_(doc_ids))))


def _guard(kind: str, loaded: dict[int, object], allowed: set[int]) -> None:
    dropped = [pk for pk in loaded if pk not in allowed]
    if not dropped:
        return
    ids = [f"{kind}:{pk}" for pk in dropped]
    pending = _pending_for(ids)
    for doc_id in ids:
        if doc_id in pending:
            log.info("search: %s not shown, its change is still being indexed", doc_id)
        else:
            log.error("search: the index returned %s to a viewer who may not see it (index is wrong)", doc_id)


def _url(endpoint: str, **values) -> tuple[str, dict]:
    return endpoint, values


def _present(viewer, hits: list[engine.Hit], terms: dict[str, set[str]], language: str) -> list[Item]:
    by_type: dict[str, list[int]] = defaultdict(list)
    for hit in hits:
        by_type[hit.type].append(hit.pk)
    items: dict[str, Item] = {}
    title_terms = terms.get("title", set()) | terms.get("topics", set())
    body_terms = terms.get("body", set()) | terms.get("expertise", set())

    def hl(text, *, whole=False, words=None):
        return engine.segments(text or "", words if words is not None else body_terms, language, whole=whole)

    if by_type.get("post"):
        pks = by_type["post"]
        rows, allowed = {}, set()
        for p, readable in db.session.execute(  # the rows and the second guard in one query
                select(Post, access.readable_posts_clause(viewer).label("readable"))
                .options(joinedload(Post.author), joinedload(Post.community), selectinload(Post.topics))
                .where(Post.id.in_(pks))).unique():
            rows[p.id] = p
            if readable:
                allowed.add(p.id)
        _guard("post", rows, allowed)
        for pk, p in rows.items():
            if pk in allowed:
                items[f"post:{pk}"] = Item("post", pk, _url("posts.show", post_id=pk),
                                           hl(p.title, whole=True, words=title_terms), hl(plain(p.body_html)), p)
    if by_type.get("comment"):
        pks = by_type["comment"]
        rows, allowed = {}, set()
        for c, readable in db.session.execute(  # the rows and the second guard in one query
                select(Comment, and_(Comment.deleted_at.is_(None), Comment.hidden_at.is_(None),
                                     Comment.held_at.is_(None), access.readable_posts_clause(viewer)).label("readable"))
                .join(Post, Post.id == Comment.post_id)
                .options(joinedload(Comment.author)).where(Comment.id.in_(pks))).unique():
            rows[c.id] = c
            if readable:
                allowed.add(c.id)
        posts = {p.id: p for p in db.session.scalars(
            select(Post).options(joinedload(Post.community)).where(Post.id.in_({c.post_id for c in rows.values()})))}
        _guard("comment", rows, allowed)
        for pk, c in rows.items():
            if pk in allowed:
                post = posts.get(c.post_id)
                items[f"comment:{pk}"] = Item(
                    "comment", pk, _url("posts.show", post_id=c.post_id, _anchor=f"c{pk}"),
                    [(f"Comment on “{post.title}”" if post else "Comment", False)], hl(plain(c.body_html)), c,
                    {"post": post})
    if by_type.get("person"):
        pks = by_type["person"]
        rows = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(pks)))}
        allowed = set(db.session.scalars(select(User.id).where(User.id.in_(pks), access.people_clause(viewer))))
        _guard("person", rows, allowed)
        for pk, u in rows.items():
            if pk in allowed:
                about = " · ".join(x for x in (u.job_title, u.department.name if u.department else u.organisation) if x)
                items[f"person:{pk}"] = Item("person", pk, _url("people.profile", handle=u.handle),
                                             hl(u.display_name, whole=True, words=title_terms),
                                             hl(" ".join(x for x in (about, u.bio or "") if x)), u)
    if by_type.get("community"):
        pks = by_type["community"]
        rows = {c.id: c for c in db.session.scalars(select(Community).where(Community.id.in_(pks)))}
        allowed = set(db.session.scalars(select(Community.id).where(Community.id.in_(pks),
                                                                    access.discoverable_clause(viewer))))
        _guard("community", rows, allowed)
        counts = dict(db.session.execute(select(Membership.community_id, func.count()).where(
            Membership.community_id.in_(pks)).group_by(Membership.community_id)).all())
        for pk, c in rows.items():
            if pk in allowed:
                items[f"community:{pk}"] = Item("community", pk, _url("communities.show", slug=c.slug),
                                                hl(c.name, whole=True, words=title_terms), hl(c.description), c,
                                                {"members": counts.get(pk, 0)})
    if by_type.get("topic"):
        pks = by_type["topic"]
        rows = {t.id: t for t in db.session.scalars(
            select(Topic).options(joinedload(Topic.community)).where(Topic.id.in_(pks)))}
        allowed = set(db.session.scalars(select(Topic.id).join(Community, Community.id == Topic.community_id)
                                         .where(Topic.id.in_(pks), access.readable_clause(viewer))))
        _guard("topic", rows, allowed)
        for pk, t in rows.items():
            if pk in allowed:
                items[f"topic:{pk}"] = Item("topic", pk, _url("communities.topic", slug=t.community.slug,
                                                                topic_slug=t.slug),
                                            hl(t.name, whole=True, words=title_terms), hl(t.description), t)
    if by_type.get("expert"):
        pks = by_type["expert"]
        rows = {a.id: a for a in db.session.scalars(
            select(ExpertAssignment).options(joinedload(ExpertAssignment.user),
                                             joinedload(ExpertAssignment.topic).joinedload(Topic.community))
            .where(ExpertAssignment.id.in_(pks)))}
        allowed = set(db.session.scalars(
            select(ExpertAssignment.id).join(Topic, Topic.id == ExpertAssignment.topic_id)
            .join(Community, Community.id == Topic.community_id)
            .where(ExpertAssignment.id.in_(pks), ExpertAssignment.removed_at.is_(None),
                   access.readable_clause(viewer))))
        _guard("expert", rows, allowed)
        for pk, a in rows.items():
            if pk in allowed:
                t = a.topic
                items[f"expert:{pk}"] = Item(
                    "expert", pk, _url("communities.topic", slug=t.community.slug, topic_slug=t.slug),
                    hl(a.user.display_name, whole=True, words=title_terms),
                    hl(a.note) if a.note else [], a,
                    {"topic": t, "community": t.community})
    if by_type.get("message"):
        pks = by_type["message"]
        rows = {m.id: m for m in db.session.scalars(
            select(ChatMessage).options(joinedload(ChatMessage.author)).where(ChatMessage.id.in_(pks)))}
        communities = {c.id: c for c in db.session.scalars(
            select(Community).where(Community.id.in_({m.community_id for m in rows.values()})))}
        allowed = set(db.session.scalars(
            select(ChatMessage.id).join(Community, Community.id == ChatMessage.community_id)
            .where(ChatMessage.id.in_(pks), ChatMessage.deleted_at.is_(None), ChatMessage.hidden_at.is_(None),
                   access.readable_clause(viewer))))
        _guard("message", rows, allowed)
        for pk, m in rows.items():
            if pk in allowed:
                community = communities.get(m.community_id)
                items[f"message:{pk}"] = Item(
                    "message", pk,
                    _url("chat.thread", slug=community.slug, message_id=m.parent_id or m.id, _anchor=f"m{pk}")
                    if community else _url("main.home"),
                    [(f"Chat in {community.name}" if community else "Chat", False)], hl(plain(m.body_html)), m,
                    {"community": community})
    return [items[h.doc_id] for h in hits if h.doc_id in items]


# --- similar posts ------------------------------------------------------------------------------

@dataclass
class SimilarPost:
    post: Post
    can_vote: bool
    voted: bool


def similar_posts(viewer, title: str, *, limit: int = 5) -> list[SimilarPost]:
    """Live posts like `title` (being typed for a new post) that the viewer may read, best first,
    with whether the viewer could vote for them instead. Empty while the index is unavailable."""
    title = " ".join((title or "").split())[:200]
    if len(title) < 3 or not access.is_active_account(viewer):
        return []
    perms = permissions(viewer)
    try:
        with store.searcher() as searcher:
            hits = engine.similar(searcher, perms, title, limit=limit)
    except store.IndexUnavailable:
        return []
    pks = [h.pk for h in hits]
    if not pks:
        return []
    rows = {p.id: p for p in db.session.scalars(
        select(Post).options(joinedload(Post.community)).where(Post.id.in_(pks)))}
    allowed = set(db.session.scalars(select(Post.id).where(Post.id.in_(pks), access.readable_posts_clause(viewer))))
    _guard("post", rows, allowed)
    rows = {pk: p for pk, p in rows.items() if pk in allowed}
    voted = set(db.session.scalars(select(Vote.post_id).where(Vote.user_id == viewer.id, Vote.post_id.in_(pks))))
    return [SimilarPost(rows[pk], ideas.vote_block_reason(rows[pk]) is None, pk in voted) for pk in pks if pk in rows]


# --- saved searches -----------------------------------------------------------------------------

def can_save_managed(user) -> bool:
    """Whether the person may save a search over the communities they manage (access decides
    which: access.managed_community_ids). Raises nothing."""
    managed = access.managed_community_ids(user)
    return bool(access.readable_community_ids(user) if managed is None else managed)


def _clean_saved(user, name: str, text: str, filters: dict | None, scope: str) -> tuple[str, str, dict, str]:
    errors = {}
    text = " ".join((text or "").split())
    try:
        engine.validate(text)
    except engine.QueryError as exc:
        errors["query"] = str(exc)
    name = " ".join((name or "").split()) or text[:NAME_MAX]
    if len(name) > NAME_MAX:
        errors["name"] = f"Use at most {NAME_MAX} characters."
    if scope not in ("readable", "managed"):
        errors["scope"] = "Choose where to look."
    elif scope == "managed" and not can_save_managed(user):
        errors["scope"] = "Only community managers can watch the communities they manage."
    if errors:
        raise ValidationError(errors)
    filters = clean_filters(filters or {})
    filters.pop("date", None)  # alerts are about new content: a date range means nothing there
    return name, text, filters, scope


def list_saved(user) -> list[SavedSearch]:
    """The person's saved searches, newest first. Raises nothing."""
    return list(db.session.scalars(select(SavedSearch).where(SavedSearch.user_id == user.id)
                                   .order_by(SavedSearch.created_at.desc(), SavedSearch.id.desc())))


def saved_for(user, saved_id) -> SavedSearch:
    """The person's own saved search; NotFound for anyone else's."""
    saved = db.session.get(SavedSearch, saved_id) if isinstance(saved_id, int) else None
    if saved is None or not access.is_active_account(user) or saved.user_id != user.id:
        raise NotFound("No such saved search.")
    return saved


def save(user, name: str, text: str, filters: dict | None = None, *, scope: str = "readable",
         alerts: bool = True) -> SavedSearch:
    """Save a search (with alerts on by default). Raises ValidationError."""
    if not access.is_active_account(user):
        raise NotFound("No such person.")
    name, text, filters, scope = _clean_saved(user, name, text, filters, scope)
    count = db.session.scalar(select(func.count()).select_from(SavedSearch).where(SavedSearch.user_id == user.id))
    if count >= SAVED_MAX:
        raise ValidationError({"query": f"You can keep at most {SAVED_MAX} saved searches: delete one first."})
    saved = SavedSearch(user_id=user.id, name=name, query=text, filters=filters, scope=scope, alerts=bool(alerts),
                        created_at=clock.utcnow(), alert_count=0)
    db.session.add(saved)
    db.session.commit()
    return saved


def update_saved(user, saved_id: int, *, name: str, text: str, filters: dict | None = None, scope: str = "readable",
                 alerts: bool = True) -> SavedSearch:
    """Change one of the person's saved searches; returns it. Raises NotFound (not theirs),
    ValidationError."""
    saved = saved_for(user, saved_id)
    name, text, filters, scope = _clean_saved(user, name, text, filters, scope)
    saved.name, saved.query, saved.filters, saved.scope, saved.alerts = name, text, filters, scope, bool(alerts)
    db.session.commit()
    return saved


def delete_saved(user, saved_id: int) -> None:
    """Delete one of the person's saved searches. Raises NotFound (not theirs)."""
    db.session.delete(saved_for(user, saved_id))
    db.session.commit()


def _scope_communities(saved: SavedSearch, owner: User) -> frozenset[int]:
    readable = access.readable_community_ids(owner)
    if saved.scope == "managed":
        managed = access.managed_community_ids(owner)
        return frozenset(readable if managed is None else managed & readable)
    return frozenset(readable)


@indexer.after_apply
def deliver_alerts(docs: list[dict]) -> int:
    """After an indexer round: new posts and comments matching saved searches (with alerts on)
    notify their owners, in-app and by email as they chose; at most once per item per saved
    search (the saved_search_hits row is written first, in the same transaction). Only content
    created after the search was saved counts, and never one's own. Returns how many were sent."""
    if not store.setting("KRING_SEARCH_ALERTS", True, bool):
        return 0
    fresh = [d for d in docs if d.get("type") in ("post", "comment") and d.get("created")]
    if not fresh:
        return 0
    newest = moment(max(d["created"] for d in fresh) + 1)  # the index keeps whole seconds
    saved = list(db.session.scalars(select(SavedSearch).options(joinedload(SavedSearch.user)).where(
        SavedSearch.alerts.is_(True), SavedSearch.created_at <= newest)))
    if not saved:
        return 0
    standing, owners = [], {}
    for s in saved:
        owner = s.user
        if owner is None or not access.is_active_account(owner):
            continue
        communities = _scope_communities(s, owner)
        if communities:
            standing.append(Standing(s.id, s.query, s.filters or {}, communities, _resolver(owner)))
            owners[s.id] = s
    by_id = {d["id"]: d for d in fresh}
    matches = percolate(fresh, standing, store.language())
    sent = 0
    for saved_id, doc_ids in matches.items():
        s = owners[saved_id]
        for doc_id in doc_ids:
            doc = by_id[doc_id]
            if moment(doc["created"]) < s.created_at.replace(microsecond=0):
                continue
            if doc.get("author_id") == str(s.user_id):
                continue
            sent += _alert(s, doc)
    db.session.commit()
    return sent


def _alert(saved: SavedSearch, doc: dict) -> int:
    try:
        with db.session.begin_nested():
            db.session.add(SavedSearchHit(saved_search_id=saved.id, doc_id=doc["id"], created_at=clock.utcnow()))
    except IntegrityError:
        return 0  # already alerted (a replayed round, or another machine's indexer)
    kind, pk = doc["id"].split(":")
    comment = db.session.get(Comment, int(pk)) if kind == "comment" else None
    post = db.session.get(Post, comment.post_id if comment else int(pk))
    if post is None:
        return 0
    what = "comment on" if comment else f"{post.kind.value}"
    text = f"New {what} “{post.title}” matches your saved search “{saved.name}”"
    told = notifications.create("saved_search", [saved.user_id], actor_id=int(doc["author_id"]) if doc.get("author_id") else None,
                                post=post, comment=comment, text=text)
    if told:
        saved.last_alert_at = clock.utcnow()
        saved.alert_count = (saved.alert_count or 0) + 1
    return len(told)


# --- the search log -----------------------------------------------------------------------------

@dataclass
class QueryStat:
    query: str
    searches: int
    zero: int


def popular_queries(*, days: int = 30, zero_only: bool = False, limit: int = 20) -> list[QueryStat]:
    """The most frequent queries of the last `days` (for the analytics pages)."""
    since = clock.utcnow() - timedelta(days=days)
    q = func.lower(SearchLog.query)
    zero = func.sum(case((SearchLog.result_count == 0, 1), else_=0))
    stmt = select(q, func.count(), zero).where(SearchLog.created_at >= since)
    if zero_only:
        stmt = stmt.where(SearchLog.result_count == 0)
    rows = db.session.execute(stmt.group_by(q).order_by(func.count().desc(), q).limit(limit))
    return [QueryStat(text, n, int(z or 0)) for text, n, z in rows]


# --- maintenance --------------------------------------------------------------------------------

@jobs.periodic("search.purge", every=timedelta(hours=6))
def _purge(payload: dict) -> None:
    """Drop change log rows older than KRING_SEARCH_CHANGES_DAYS (an index copy further behind
    rebuilds itself) and search log rows older than KRING_SEARCH_LOG_DAYS."""
    now = clock.utcnow()
    keep_changes = timedelta(days=store.setting("KRING_SEARCH_CHANGES_DAYS", 7.0, float))
    keep_log = timedelta(days=store.setting("KRING_SEARCH_LOG_DAYS", 365.0, float))
    highest = db.session.scalar(select(func.max(SearchChange.id)).where(SearchChange.created_at < now - keep_changes))
    if highest:
        db.session.execute(delete(SearchChange).where(SearchChange.id <= highest))
        row = db.session.get(SiteSetting, "search.purged_through")
        if row is None:
            db.session.add(SiteSetting(key="search.purged_through", value=int(highest)))
        else:
            row.value = max(int(row.value or 0), int(highest))
    db.session.execute(delete(SearchLog).where(SearchLog.created_at < now - keep_log))


@jobs.poller
def _index_poll() -> int:
    """The embedded indexer: one round every KRING_POLLER_SECONDS in the worker thread."""
    return indexer.poll()


def sync() -> int:
    """Bring this machine's index up to date now (tests, the demo, the CLI): build it when it is
    missing, then apply every pending change. Returns the change rows applied."""
    path = store.current_dir()
    if path is None or store.outdated(path):
        rebuild.rebuild(procs=1)
        return 0
    return indexer.catch_up(path)
