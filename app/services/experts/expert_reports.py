"""Reports about experts, read-only: the expert finder, suggestions of new experts for a topic,
and response metrics per topic and per expert (with the pages' data: a community's figures,
an expert's own "my topics", a topic's experts page). The rules of who is an expert, and the
query pieces for current experts, live in app.services.experts.experts.

Each function loads what its page shows in a constant number of queries. Medians are computed
in Python from the durations one query returns (portable between SQLite and PostgreSQL).

Over 500 lines: the finder, suggestions and response metrics share the query pieces and the
median computation; each function stays a constant number of queries.
"""
from __future__ import annotations

import statistics
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, case, false, func, or_, select
from sqlalchemy.orm import selectinload

from app import clock, inputs
from app.extensions import db
from app.models import (
    Comment,
    Community,
    Escalation,
    ExpertAssignment,
    ExpertiseTag,
    Membership,
    Post,
    PostKind,
    StatusChange,
    Topic,
    User,
    UserKind,
    post_topics,
)
from app.services import access
from app.services.access.experts import XA, XC, XT, current_select
from app.services.community import communities
from app.services.experts.experts import (
    OverdueItem,
    assignable_people,
    eligibility_problem,
    escalation_hours,
    experts_by_topic,
    history,
    hours_by_community,
    overdue_page,
    waiting_clause,
)

FINDER_PER_PAGE = 20
RECENT_ANSWERS = 3
PERIODS = {"30": 30, "90": 90, "365": 365, "all": None}

# Suggestion weights: the reason shown next to each person lists the evidence itself.
WEIGHT_ACCEPTED, WEIGHT_POST, WEIGHT_COMMENT, WEIGHT_LIKE = 5, 2, 1, 1


# --- suggestions --------------------------------------------------------------------------

@dataclass
class Suggestion:
    user: User
    accepted: int
    likes: int
    comments: int
    posts: int

    @property
    def score(self) -> int:
        return (WEIGHT_ACCEPTED * self.accepted + WEIGHT_LIKE * self.likes
                + WEIGHT_COMMENT * self.comments + WEIGHT_POST * self.posts)

    @property
    def reason(self) -> str:
        def n(count: int, one: str, many: str) -> str:
            return f"{count} {one if count == 1 else many}"

        parts = []
        if self.accepted:
            parts.append(n(self.accepted, "accepted answer", "accepted answers"))
        if self.likes:
            parts.append(n(self.likes, "like", "likes"))
        if self.comments:
            parts.append(n(self.comments, "answer or comment", "answers or comments"))
        if self.posts:
            parts.append(n(self.posts, "post", "posts"))
        return ", ".join(parts)


def suggestions(actor, slug: str, topic_slug: str, limit: int = 8) -> list[Suggestion]:
    """People who are not experts of the topic yet but could be, ranked by their evidence in
    the topic: accepted answers (5 points each), likes received on their comments (1), their
    comments on others' posts (1) and their posts (2). Only people who may be experts there.
    Managers only. A constant number of queries."""
    acc, topic = communities.topic_for(actor, slug, topic_slug, "manage")
    in_topic = select(post_topics.c.post_id).where(post_topics.c.topic_id == topic.id)
    comment_rows = db.session.execute(
        select(Comment.author_id, func.count(Comment.id), func.coalesce(func.sum(Comment.like_count), 0),
               func.sum(case((Post.accepted_comment_id == Comment.id, 1), else_=0)))
        .join(Post, Post.id == Comment.post_id)
        .where(Post.id.in_(in_topic), Post.deleted_at.is_(None), Comment.deleted_at.is_(None),
               Comment.author_id.isnot(None), or_(Post.author_id.is_(None), Post.author_id != Comment.author_id))
        .group_by(Comment.author_id)).all()
    post_rows = db.session.execute(
        select(Post.author_id, func.count(Post.id))
        .where(Post.id.in_(in_topic), Post.deleted_at.is_(None), Post.author_id.isnot(None))
        .group_by(Post.author_id)).all()
    evidence: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # accepted, likes, comments, posts
    for user_id, count, likes, accepted in comment_rows:
        evidence[user_id][0] += int(accepted or 0)
        evidence[user_id][1] += int(likes or 0)
        evidence[user_id][2] += int(count or 0)
    for user_id, count in post_rows:
        evidence[user_id][3] += int(count or 0)
    current = set(db.session.scalars(select(ExpertAssignment.user_id).where(
        ExpertAssignment.topic_id == topic.id, ExpertAssignment.removed_at.is_(None))))

    def score(e):
        return WEIGHT_ACCEPTED * e[0] + WEIGHT_LIKE * e[1] + WEIGHT_COMMENT * e[2] + WEIGHT_POST * e[3]

    ranked = sorted((uid for uid in evidence if uid not in current), key=lambda uid: (-score(evidence[uid]), uid))
    ranked = ranked[: limit * 5]
    if not ranked:
        return []
    people = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ranked)))}
    memberships = {m.user_id: m for m in db.session.scalars(select(Membership).where(
        Membership.community_id == acc.community.id, Membership.user_id.in_(ranked)))}
    found = []
    for uid in ranked:
        person = people.get(uid)
        if person is None or eligibility_problem(person, acc.community, memberships.get(uid),
                                                 membership_known=True):
            continue
        found.append(Suggestion(person, *evidence[uid]))
        if len(found) == limit:
            break
    return found


# --- the expert finder --------------------------------------------------------------------

@dataclass
class Answer:
    comment_id: int
    post_id: int
    post_title: str
    created_at: datetime
    likes: int
    accepted: bool


@dataclass
class ExpertTopic:
    topic: Topic
    community: Community
    note: str


@dataclass
class ExpertCard:
    user: User
    topics: list[ExpertTopic]
    answers: list[Answer]
    can_open_profile: bool


@dataclass
class FinderPage:
    cards: list[ExpertCard]
    total: int
    page: int
    per_page: int


def _readable_topic_ids(viewer):
    return select(Topic.id).join(Community, Community.id == Topic.community_id).where(access.readable_clause(viewer))


def finder_topics(viewer) -> list[tuple[Community, list[Topic]]]:
    """The topics of the communities the viewer may read, grouped by community (one query)."""
    rows = db.session.execute(select(Topic, Community).join(Community, Community.id == Topic.community_id)
                              .where(access.readable_clause(viewer))
                              .order_by(Community.name, Community.id, Topic.name)).all()
    grouped: list[tuple[Community, list[Topic]]] = []
    for topic, community in rows:
        if not grouped or grouped[-1][0].id != community.id:
            grouped.append((community, []))
        grouped[-1][1].append(topic)
    return grouped


def find(viewer, *, q: str | None = None, topic_id: int | None = None, tag: str | None = None,
         department_id: int | None = None, experts_only: bool = False, page: int = 1,
         per_page: int = FINDER_PER_PAGE) -> FinderPage:
    """People to ask: the current experts of topics in communities the viewer may read and,
    for employees, colleagues (employees) who list expertise tags. Filters: a topic (its experts), an
    expertise tag, a department, free text (name, job title, handle, expertise, the names and
    notes of their topics).
    Externals only ever see experts of communities they can read. Topic experts come first.
    Each card: the person's topics (readable ones only), department or organisation, and their
    latest answers to questions the viewer may read. A constant number of queries."""
    readable_topics = _readable_topic_ids(viewer)
    assigned = current_select(XA.user_id).where(XA.topic_id.in_(readable_topics))
    if access.sees_all_people(viewer):
        tagged = and_(User.kind == UserKind.EMPLOYEE, access.people_clause(viewer), User.expertise.any())
        pool = or_(User.id.in_(assigned), false() if experts_only else tagged)
    else:
        pool = User.id.in_(assigned)
    stmt = select(User).where(pool, or_(User.suspended_until.is_(None), User.suspended_until <= clock.utcnow()))
    if topic_id is not None:
        stmt = stmt.where(User.id.in_(current_select(XA.user_id).where(XA.topic_id == topic_id,
                                                                  XA.topic_id.in_(readable_topics))))
    if tag and tag.strip():
        name = " ".join(tag.split()).lower()[:40]
        stmt = stmt.where(User.expertise.any(ExpertiseTag.name == name))
    if department_id is not None:
        stmt = stmt.where(User.department_id == department_id)
    if q and q.strip():
        like = inputs.contains_pattern(" ".join(q.split())[:80])
        topic_match = current_select(XA.user_id).where(XA.topic_id.in_(readable_topics),
                                                  or_(XT.name.ilike(like, escape="\\"),
                                                      XA.note.ilike(like, escape="\\")))
        stmt = stmt.where(or_(User.display_name.ilike(like, escape="\\"), User.job_title.ilike(like, escape="\\"),
                              User.handle.ilike(like, escape="\\"),
                              User.expertise.any(ExpertiseTag.name.ilike(like, escape="\\")),
                              User.id.in_(topic_match)))
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    is_expert = case((User.id.in_(assigned), 0), else_=1)
    people = list(db.session.scalars(
        stmt.options(selectinload(User.expertise))
        .order_by(is_expert, func.lower(User.display_name), User.id)
        .limit(per_page).offset((max(page, 1) - 1) * per_page)).unique())
    return FinderPage(_cards(viewer, people, readable_topics), total, page, per_page)


def _cards(viewer, people: list[User], readable_topics) -> list[ExpertCard]:
    ids = [p.id for p in people]
    if not ids:
        return []
    topics: dict[int, list[ExpertTopic]] = defaultdict(list)
    for assignment, topic, community in db.session.execute(
            current_select(XA, XT, XC).where(XA.user_id.in_(ids), XA.topic_id.in_(readable_topics))
            .order_by(XC.name, XT.name)):
        topics[assignment.user_id].append(ExpertTopic(topic, community, assignment.note))
    answers = recent_answers(viewer, ids)
    if access.sees_all_people(viewer):
        visible = set(ids)
    else:
        visible = set(db.session.scalars(select(User.id).where(User.id.in_(ids), access.people_clause(viewer))))
    return [ExpertCard(p, topics.get(p.id, []), answers.get(p.id, []), p.id in visible) for p in people]


def recent_answers(viewer, user_ids, per_person: int = RECENT_ANSWERS) -> dict[int, list[Answer]]:
    """{user_id: their latest answers (top-level comments on others' questions) that the
    viewer may read}, newest first, at most `per_person` each (one query, a window function)."""
    ids = list(user_ids)
    if not ids:
        return {}
    rank = func.row_number().over(partition_by=Comment.author_id,
                                  order_by=(Comment.created_at.desc(), Comment.id.desc())).label("rank")
    inner = (select(Comment.id.label("comment_id"), Comment.author_id, Comment.post_id, Comment.created_at,
                    Comment.like_count, Post.title, Post.accepted_comment_id, rank)
             .join(Post, Post.id == Comment.post_id)
             .where(Comment.author_id.in_(ids), Comment.deleted_at.is_(None), Comment.parent_id.is_(None),
                    Post.kind == PostKind.QUESTION, access.readable_posts_clause(viewer),
                    or_(Post.author_id.is_(None), Post.author_id != Comment.author_id))
             .subquery())
    found: dict[int, list[Answer]] = defaultdict(list)
    for row in db.session.execute(select(inner).where(inner.c.rank <= per_person)
                                  .order_by(inner.c.author_id, inner.c.rank)):
        found[row.author_id].append(Answer(row.comment_id, row.post_id, row.title, row.created_at,
                                           row.like_count, row.accepted_comment_id == row.comment_id))
    return dict(found)


# --- metrics ------------------------------------------------------------------------------

def median(values) -> timedelta | None:
    """The median of a list of timedeltas (the mean of the middle two for an even count)."""
    values = sorted(values)
    if not values:
        return None
    return timedelta(seconds=statistics.median(v.total_seconds() for v in values))


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass
class Metrics:
    """Response figures for a topic or an expert over a period."""

    items: int = 0                 # questions and ideas
    questions: int = 0
    answered: int = 0              # questions with an answer from anyone but the asker (or accepted)
    answered_by_expert: int = 0    # ... with an answer from an expert of its topics at the time
    answered_by_them: int = 0      # per expert: ... with an answer from this expert
    open_overdue: int = 0          # waiting past the escalation time now
    response_times: list[timedelta] = field(default_factory=list, repr=False)

    @property
    def median_first_response(self) -> timedelta | None:
        return median(self.response_times)

    @property
    def responded(self) -> int:
        return len(self.response_times)

    @property
    def answered_share(self) -> float | None:
        return _share(self.answered, self.questions)

    @property
    def expert_share(self) -> float | None:
        return _share(self.answered_by_expert, self.questions)

    @property
    def their_share(self) -> float | None:
        return _share(self.answered_by_them, self.questions)


def compute_metrics(topic_ids, *, since: datetime | None = None, community_id: int | None = None
                    ) -> tuple[dict[int, Metrics], dict[int, Metrics]]:
    """({topic_id: Metrics}, {expert user_id: Metrics}) for the questions and ideas filed under
    these topics and posted since `since` (None: ever). Six queries whatever the volume; the
    medians are computed here from the sorted durations (portable: SQLite and PostgreSQL).

    - first response: the earliest comment by someone other than the author, or for an idea its
      first official response (per expert: their own first comment or status change);
    - an expert's items: those posted while they were an expert of one of the item's topics;
      open overdue items: the open escalations in the topics they currently own.

    `community_id`: all the topics are this community's (the queries then walk the posts by
    the community's (community_id, created_at) index)."""
    topic_ids = list(topic_ids)
    by_topic = {tid: Metrics() for tid in topic_ids}
    if not topic_ids:
        return by_topic, {}
    in_period = [waiting_clause()] + ([Post.created_at >= since] if since is not None else [])
    if community_id is not None:
        in_scope = [Post.community_id == community_id, *in_period]
    else:
        in_scope = [Post.id.in_(select(post_topics.c.post_id).where(post_topics.c.topic_id.in_(topic_ids))),
                    *in_period]
    base = select(Post.id).where(*in_scope)
    others = or_(Post.author_id.is_(None), Comment.author_id != Post.author_id)
    live_comment = and_(Comment.deleted_at.is_(None), Comment.author_id.isnot(None))
    # each post's first comment by someone else: a correlated MIN walks the (post_id,
    # created_at) index of that post only, instead of grouping every comment of the period
    first_reply = (select(func.min(Comment.created_at)).where(Comment.post_id == Post.id, live_comment, others)
                   .correlate(Post).scalar_subquery().label("first_reply"))
    # post id -> [is a question, posted, has an accepted answer, official response (ideas),
    # first reply by someone else, topic ids]: plain lists, this loop runs once per item
    items: dict[int, list] = {}
    for post_id, kind, created, accepted, official, topic_id, first in db.session.execute(
            select(Post.id, Post.kind, Post.created_at, Post.accepted_comment_id,
                   Post.first_official_response_at, post_topics.c.topic_id, first_reply)
            .join(post_topics, post_topics.c.post_id == Post.id)
            .where(*in_scope, post_topics.c.topic_id.in_(topic_ids))):
        item = items.get(post_id)
        if item is None:
            items[post_id] = [kind == PostKind.QUESTION, created, accepted is not None,
                              official if kind == PostKind.IDEA else None, first, [topic_id]]
        else:
            item[5].append(topic_id)
    spans: dict[int, list[tuple[int, datetime, datetime | None]]] = defaultdict(list)  # topic -> (expert, from, to)
    for topic_id, user_id, assigned_at, removed_at in db.session.execute(
            select(ExpertAssignment.topic_id, ExpertAssignment.user_id, ExpertAssignment.assigned_at,
                   ExpertAssignment.removed_at).where(ExpertAssignment.topic_id.in_(topic_ids))):
        spans[topic_id].append((user_id, assigned_at, removed_at))
    expert_ids = sorted({uid for rows in spans.values() for uid, _a, _r in rows})
    by_expert = {uid: Metrics() for uid in expert_ids}
    # one row per (post, expert who ever owned one of these topics): their first comment
    first_by: dict[int, dict[int, datetime]] = defaultdict(dict)
    first_status: dict[int, dict[int, datetime]] = defaultdict(dict)
    if expert_ids:
        # walked by the (author_id, created_at) index: the experts' own comments only
        for post_id, author_id, first in db.session.execute(
                select(Comment.post_id, Comment.author_id, func.min(Comment.created_at))
                .join(Post, Post.id == Comment.post_id)
                .where(Comment.author_id.in_(expert_ids), live_comment, others, *in_period)
                .group_by(Comment.post_id, Comment.author_id)):
            if post_id in items:
                first_by[post_id][author_id] = first
        for post_id, actor_id, first in db.session.execute(
                select(StatusChange.post_id, StatusChange.actor_id, func.min(StatusChange.created_at))
                .where(StatusChange.post_id.in_(base), StatusChange.actor_id.in_(expert_ids))
                .group_by(StatusChange.post_id, StatusChange.actor_id)):
            first_status[post_id][actor_id] = first

    def experts_at(tids, moment) -> set[int]:
        return {uid for tid in tids for uid, start, stop in spans.get(tid, ())
                if start <= moment and (stop is None or stop > moment)}

    for post_id, (is_question, created, accepted, official, first_reply, tids) in items.items():
        first = min(t for t in (first_reply, official) if t is not None) if (first_reply or official) else None
        delay = first - created if first is not None else None
        answered = is_question and (accepted or first_reply is not None)
        by_them = first_by.get(post_id, {})
        expert_answered = is_question and any(uid in experts_at(tids, when) for uid, when in by_them.items())
        for tid in tids:
            m = by_topic[tid]
            m.items += 1
            m.questions += is_question
            m.answered += answered
            m.answered_by_expert += expert_answered
            if delay is not None:
                m.response_times.append(delay)
        if not spans:
            continue
        statuses = first_status.get(post_id, {})
        for uid in experts_at(tids, created):
            m = by_expert[uid]
            m.items += 1
            m.questions += is_question
            m.answered += answered
            m.answered_by_expert += expert_answered
            m.answered_by_them += is_question and uid in by_them
            own = [t for t in (by_them.get(uid), statuses.get(uid)) if t is not None]
            if own:
                m.response_times.append(min(own) - created)

    # open overdue items: the open escalations filed under these topics (one query)
    current = {(tid, uid) for tid, rows in spans.items() for uid, _a, stop in rows if stop is None}
    posts_of_expert: dict[int, set[int]] = defaultdict(set)
    for tid, post_id in db.session.execute(
            select(post_topics.c.topic_id, Escalation.post_id)
            .join(Escalation, Escalation.post_id == post_topics.c.post_id)
            .where(post_topics.c.topic_id.in_(topic_ids), Escalation.resolved_at.is_(None))):
        by_topic[tid].open_overdue += 1
        for uid, _a, _r in spans.get(tid, ()):
            if (tid, uid) in current:
                posts_of_expert[uid].add(post_id)
    for uid, post_ids in posts_of_expert.items():
        by_expert[uid].open_overdue = len(post_ids)
    return by_topic, by_expert


def _since(period: str | None) -> tuple[str, datetime | None]:
    period = period if period in PERIODS else "90"
    days = PERIODS[period]
    return period, (clock.utcnow() - timedelta(days=days)) if days else None


_cache: dict[tuple, tuple[float, tuple]] = {}
_cache_lock = threading.Lock()


def cached_metrics(topic_ids, period: str | None, *, community_id: int | None = None):
    """compute_metrics for a page over a period ("30", "90", "365", "all"), remembered per
    process for EXPERTS_METRICS_CACHE_SECONDS (default 300; 0, no cache, when testing): the
    figures of a large community take a second or more to compute. Returns (period, by_topic,
    by_expert, computed_at)."""
    seconds = current_app.config.get("EXPERTS_METRICS_CACHE_SECONDS", 0 if current_app.testing else 300)
    period, since = _since(period)
    key = (str(db.engine.url), tuple(sorted(topic_ids)), period, community_id)
    moment = time.monotonic()
    if seconds:
        hit = _cache.get(key)
        if hit is not None and moment - hit[0] < seconds:
            return hit[1]
    by_topic, by_expert = compute_metrics(topic_ids, since=since, community_id=community_id)
    value = (period, by_topic, by_expert, clock.utcnow())
    if seconds:
        with _cache_lock:
            if len(_cache) > 500:
                _cache.clear()
            _cache[key] = (moment, value)
    return value


@dataclass
class CommunityMetrics:
    period: str
    topics: list[tuple[Topic, Metrics]]
    experts: list[tuple[User, Metrics, list[str]]]  # the person, figures, their current topic names
    computed_at: datetime


def _community_figures(community, period: str | None):
    """The ONE computation of a community's figures, for its experts page and every topic's
    experts page alike: (topics by name, period, by_topic, by_expert, computed_at). An
    expert's figures cover every topic of the community they owned, so the same person and
    period show the same figures on both pages (and share the cache entry)."""
    topics = list(db.session.scalars(select(Topic).where(Topic.community_id == community.id).order_by(Topic.name)))
    period, by_topic, by_expert, computed_at = cached_metrics([t.id for t in topics], period,
                                                              community_id=community.id)
    return topics, period, by_topic, by_expert, computed_at


def community_metrics(actor, slug: str, period: str | None = None) -> CommunityMetrics:
    """Per topic and per expert figures of a community (managers only)."""
    acc = access.community_for(actor, slug, "manage")
    topics, period, by_topic, by_expert, computed_at = _community_figures(acc.community, period)
    people = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(list(by_expert))))} if by_expert else {}
    current = experts_by_topic(t.id for t in topics)
    names: dict[int, list[str]] = defaultdict(list)
    for t in topics:
        for entry in current.get(t.id, []):
            names[entry.user.id].append(t.name)
    experts = sorted(((people[uid], m, names.get(uid, [])) for uid, m in by_expert.items() if uid in people),
                     key=lambda r: (not r[2], r[0].display_name.lower()))
    return CommunityMetrics(period, [(t, by_topic[t.id]) for t in topics], experts, computed_at)


@dataclass
class MyTopics:
    period: str
    topics: list[tuple[ExpertTopic, ExpertAssignment, Metrics]]
    mine: Metrics
    overdue: list[OverdueItem]
    overdue_total: int
    computed_at: datetime


def my_topics(viewer, period: str | None = None) -> MyTopics:
    """The viewer's own expert page: their current topics (in communities they may read) with
    each topic's figures, their own figures over every topic they owned, and what is overdue in
    their topics now."""
    rows = db.session.execute(
        current_select(XA, XT, XC).where(XA.user_id == viewer.id, XA.topic_id.in_(_readable_topic_ids(viewer)))
        .order_by(XC.name, XT.name)).all()
    ever = list(db.session.scalars(select(ExpertAssignment.topic_id).where(
        ExpertAssignment.user_id == viewer.id, ExpertAssignment.topic_id.in_(_readable_topic_ids(viewer))).distinct()))
    period, by_topic, by_expert, computed_at = cached_metrics(ever, period)
    topic_ids = [t.id for _a, t, _c in rows]
    now = clock.utcnow()
    overdue, total = (overdue_page(None, now, hours_by_community(), topic_ids=topic_ids, per_page=20)
                      if topic_ids else ([], 0))
    return MyTopics(period, [(ExpertTopic(t, c, a.note), a, by_topic.get(t.id, Metrics())) for a, t, c in rows],
                    by_expert.get(viewer.id, Metrics()), overdue, total, computed_at)


def topic_page(actor, slug: str, topic_slug: str, period: str | None = None):
    """Everything the topic's experts page shows a manager: (access, topic, current experts,
    suggestions, history, the topic's metrics, the period, the people list for the form).
    The figures come from the community's one computation (`_community_figures`)."""
    acc, topic = communities.topic_for(actor, slug, topic_slug, "manage")
    _topics, period, by_topic, by_expert, computed_at = _community_figures(acc.community, period)
    return {
        "acc": acc, "topic": topic,
        "experts": experts_by_topic([topic.id]).get(topic.id, []),
        "suggestions": suggestions(actor, slug, topic_slug),
        "history": history(topic),
        "metrics": by_topic.get(topic.id, Metrics()),
        "expert_metrics": by_expert,
        "period": period,
        "computed_at": computed_at,
        "people": assignable_people(acc.community, topic),
        "hours": escalation_hours(acc.community),
    }
