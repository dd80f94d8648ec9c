"""Experts linked to topics: who can be one, assignment by community managers, routing of new
questions and ideas to their experts, escalation of what waits too long and the needs-attention
queue. (The finder, suggestions and metrics read from here: app.services.experts.expert_reports.)

Rules, in one place:

- *Who can be an expert* of a topic: an employee, or a partner when the community allows
  external experts (customers never), whose account is not suspended and who may read the
  community. Only the community's managers (and staff) assign and remove experts.
- An assignment is never deleted: removing an expert closes it (`removed_at`), so who owned a
  topic when stays known. A *current expert* has an open assignment and still meets the rules
  above (a suspended person or a partner in a community that no longer allows partners keeps
  the row but stops counting until that changes).
- *Routing*: a new question or idea tells the current experts of its topics once
  (notification kind "routed"), before the followers of the topic are told; an expert who also
  follows the topic hears about it once. A post moved into a topic later (an edit) reaches the
  experts of that topic who were not told yet, while it is still unanswered.
- *Answered*: a question is answered for the organisation when an expert of one of its topics
  (at the time of the comment) or the community's staff (its managers and moderators, admins
  and the social team) commented on it, or when an answer was accepted; an idea when it got an
  official response. Discussions never wait.
- *Overdue*: a question or idea that is not answered that way `escalation_hours` after it was
  posted (per community, default 48). `escalate()` (a periodic job every 10 minutes, and
  `flask experts escalate`) records an Escalation per overdue post and tells the community's
  managers once (kind "escalation"; the social team when the community has no manager); it is
  idempotent. The open Escalation rows are the needs-attention queue (indexed, so the queue
  stays fast on large sites); an answer closes its row at once (`recheck`, from the
  notification jobs), and the next run reopens a row whose answer was deleted.
  A topic without any current expert for longer than the same time is flagged to the
  managers once per gap (TopicFlag) and listed at the top of the needs-attention queue.

Reading functions load what a page shows in a constant number of queries.

Over 500 lines: assignment, routing, escalation and the needs-attention queue share one set of
rules and the queries of current experts (who counts as one is access.experts).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, func, or_, select, true, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased, joinedload, selectinload

from app import clock, events, inputs
from app.errors import Forbidden, NotFound, ValidationError
from app.extensions import db
from app.models import (
    Comment,
    Community,
    Escalation,
    ExpertAssignment,
    ExpertRoute,
    ExpertSettings,
    IdeaStatus,
    MemberRole,
    Membership,
    Post,
    PostKind,
    Topic,
    TopicFlag,
    User,
    UserKind,
    post_topics,
)
from app.models.experts import DEFAULT_ESCALATION_HOURS
from app.services import access, notifications
from app.services.access.experts import XA, XT, XU, current_select
from app.services.community import communities
from app.services.platform import audit, jobs, markup

NOTE_MAX = 200
MIN_HOURS, MAX_HOURS = 1, 24 * 30
ESCALATION_SCAN = 20_000  # at most this many newly overdue items recorded per run (the next continues)
ESCALATION_BATCH = 500    # at most this many managers' notifications per run
# Items that became overdue longer ago than this when first seen join the queue silently: the
# first run on an existing site does not flood the managers with years-old posts.
ESCALATION_WINDOW = timedelta(days=30)
ROUTED_KINDS = (PostKind.QUESTION, PostKind.IDEA)
QUEUE_PER_PAGE = 50

def eligibility_problem(person: User, community: Community, membership: Membership | None = None,
                        *, membership_known: bool = False) -> str | None:
    """Why `person` cannot be an expert in `community`, or None when they can."""
    name = person.display_name
    if person.is_suspended:
        return f"{name}'s account is suspended; suspended people cannot be experts."
    if person.kind == UserKind.CUSTOMER:
        return f"{name} is a customer; customers cannot be experts."
    if person.kind == UserKind.PARTNER and not community.allow_external_experts:
        return (f"{name} is a partner, and this community does not allow partners as experts "
                "(a manager can allow that in the community's settings).")
    acc = access.access_to(person, community, membership, membership_known=membership_known)
    if not acc.can_read:
        return f"{name} cannot see this community. Add them as a member first."
    return None


# --- reading the current experts ----------------------------------------------------------

@dataclass
class ExpertEntry:
    user: User
    assignment: ExpertAssignment


def experts_by_topic(topic_ids) -> dict[int, list[ExpertEntry]]:
    """{topic_id: [ExpertEntry]} of the current experts of these topics, by name (one query)."""
    ids = list(topic_ids)
    if not ids:
        return {}
    rows = db.session.execute(current_select(XA, XU).where(XA.topic_id.in_(ids))
                              .order_by(func.lower(XU.display_name), XU.id)).all()
    found: dict[int, list[ExpertEntry]] = defaultdict(list)
    for assignment, user in rows:
        found[assignment.topic_id].append(ExpertEntry(user, assignment))
    return dict(found)


@dataclass
class TopicExperts:
    topic: Topic
    experts: list[ExpertEntry]


def community_experts(community: Community) -> list[TopicExperts]:
    """Every topic of the community with its current experts (at most two queries: topics, experts)."""
    topics = list(community.topics)  # ordered by name; usually loaded already by the page
    found = experts_by_topic(t.id for t in topics)
    return [TopicExperts(t, found.get(t.id, [])) for t in topics]


class Badges:
    """Who is an expert of which of a post's topics: `topics_of(user_id)` gives the names."""

    def __init__(self, pairs: dict[int, list[str]]):
        self._pairs = pairs

    def topics_of(self, user_id) -> list[str]:
        return self._pairs.get(user_id, []) if user_id else []

    def __contains__(self, user_id) -> bool:
        return bool(self.topics_of(user_id))

    def items(self) -> list[tuple[int, list[str]]]:
        """(user id, topic names) of every expert of the post's topics."""
        return list(self._pairs.items())


def badges_for_post(post: Post) -> Badges:
    """The expert badges of a post page (its author and commenters): one query."""
    topics = select(post_topics.c.topic_id).where(post_topics.c.post_id == post.id)
    pairs: dict[int, list[str]] = defaultdict(list)
    for user_id, name in db.session.execute(
            current_select(XA.user_id, XT.name).where(XA.topic_id.in_(topics)).order_by(XT.name)):
        pairs[user_id].append(name)
    return Badges(dict(pairs))


def expert_post_ids(post_ids) -> set[int]:
    """Of these posts, the ids of those whose author is a current expert of one of the post's
    topics (post lists show a badge): one query."""
    ids = [int(i) for i in post_ids]
    if not ids:
        return set()
    return set(db.session.scalars(
        current_select(post_topics.c.post_id)
        .join(post_topics, post_topics.c.topic_id == XA.topic_id)
        .join(Post, and_(Post.id == post_topics.c.post_id, Post.author_id == XA.user_id))
        .where(post_topics.c.post_id.in_(ids)).distinct()))


# --- assigning and removing ---------------------------------------------------------------

def _clean_note(note: str | None) -> str:
    note = " ".join((note or "").split())
    problem = markup.source_problem(note, NOTE_MAX)
    if problem:
        raise ValidationError({"note": problem})
    return note


def _resolve_person(actor, person) -> User:
    """A User from a User, an id, an email address, an @handle or an exact unique name."""
    if isinstance(person, User):
        return person
    if isinstance(person, int):
        found = db.session.get(User, person) if inputs.id_or_none(person) else None
        if found is None or not access.can_see_person(actor, found):
            raise ValidationError({"person": "No such person."})
        return found
    raw = " ".join(str(person or "").split())
    if not raw:
        raise ValidationError({"person": "Name the person: their @handle, email address or full name."})
    if len(raw) > 254:
        raise ValidationError({"person": "No such person."})
    if inputs.id_or_none(raw) is not None:
        return _resolve_person(actor, inputs.id_or_none(raw))
    if "@" in raw[1:] and " " not in raw:
        found = db.session.scalar(select(User).where(func.lower(User.email) == raw.lower()))
    elif raw.startswith("@"):
        found = db.session.scalar(select(User).where(func.lower(User.handle) == raw[1:].lower()))
    else:
        found = db.session.scalar(select(User).where(func.lower(User.handle) == raw.lower()))
        if found is None:
            named = list(db.session.scalars(select(User).where(
                func.lower(User.display_name) == raw.lower(), access.people_clause(actor)).limit(2)))
            if len(named) > 1:
                raise ValidationError({"person": f"Several people are called {raw}: use their @handle."})
            found = named[0] if named else None
    if found is None or not access.can_see_person(actor, found):
        raise ValidationError({"person": f"Nobody called “{raw[:60]}” was found. Use their @handle or email address."})
    return found


def _current_assignment(topic_id: int, user_id: int) -> ExpertAssignment | None:
    return db.session.scalar(select(ExpertAssignment).where(
        ExpertAssignment.topic_id == topic_id, ExpertAssignment.user_id == user_id,
        ExpertAssignment.removed_at.is_(None)))


def assign(actor, slug: str, topic_slug: str, person, note: str = "", *, ip: str | None = None) -> ExpertAssignment:
    """Make `person` (a User, an id, or text: @handle, email, full name) an expert of the topic.

    The community's managers only. Raises NotFound (community, topic), Forbidden (not a
    manager), ValidationError: {"person": ...} for nobody found, a customer, a partner where
    partners are not allowed, a suspended account, someone who cannot read the community, or
    someone already an expert of the topic; {"note": ...} for a note over 200 characters.
    The person is told (kind "expert"). Returns the new assignment."""
    acc, topic = communities.topic_for(actor, slug, topic_slug, "manage")
    note = _clean_note(note)
    user = _resolve_person(actor, person)
    problem = eligibility_problem(user, acc.community)
    if problem:
        raise ValidationError({"person": problem})
    already = f"{user.display_name} is already an expert of {topic.name}."
    if _current_assignment(topic.id, user.id) is not None:
        raise ValidationError({"person": already})
    row = ExpertAssignment(topic_id=topic.id, user_id=user.id, note=note, assigned_by_id=actor.id,
                           assigned_at=clock.utcnow())
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:  # the same person assigned at the same moment by someone else
        raise ValidationError({"person": already}) from None
    text = f"{actor.display_name} made you an expert of “{topic.name}” in {acc.community.name}"
    notifications.create("expert", [user.id], actor_id=actor.id, community=acc.community,
                         text=text + (f": {note}" if note else "."))
    events.expert_assigned(acc.community, topic, user)

    audit.record(actor, "expert.assign", "topic", topic.id, ip=ip, reason=note or None,
                 after={"user_id": user.id, "community_id": acc.community.id})
    db.session.commit()
    return row


def remove(actor, slug: str, topic_slug: str, assignment_id: int, *, ip: str | None = None) -> ExpertAssignment:
    """Stop someone being an expert of the topic (managers). The assignment is kept, closed,
    with who removed it and when; nothing they wrote changes. Raises NotFound, Forbidden,
    ValidationError (already removed)."""
    acc, topic = communities.topic_for(actor, slug, topic_slug, "manage")
    row = db.session.get(ExpertAssignment, assignment_id) if isinstance(assignment_id, int) else None
    if row is None or row.topic_id != topic.id:
        raise NotFound("No such expert of this topic.")
    if row.removed_at is not None:
        raise ValidationError({"_": f"{row.user.display_name} is no longer an expert of {topic.name}."})
    row.removed_at, row.removed_by_id = clock.utcnow(), actor.id
    if row.user_id != actor.id:
        notifications.create("expert", [row.user_id], actor_id=actor.id, community=acc.community,
                             text=f"{actor.display_name} removed you as expert of “{topic.name}” in "
                                  f"{acc.community.name}. Thank you for your answers!")

    audit.record(actor, "expert.remove", "topic", topic.id, ip=ip,
                 before={"user_id": row.user_id, "assignment_id": row.id}, after=None)
    db.session.commit()
    return row


def history(topic: Topic) -> list[ExpertAssignment]:
    """Every assignment of the topic, newest first, with the people involved (one query)."""
    return list(db.session.scalars(
        select(ExpertAssignment)
        .options(joinedload(ExpertAssignment.user), joinedload(ExpertAssignment.assigned_by),
                 joinedload(ExpertAssignment.removed_by))
        .where(ExpertAssignment.topic_id == topic.id)
        .order_by(func.coalesce(ExpertAssignment.removed_at, ExpertAssignment.assigned_at).desc(),
                  ExpertAssignment.id.desc())).unique())


def assignable_people(community: Community, topic: Topic, limit: int = 300) -> list[User]:
    """Members of the community who could be made experts of the topic and are not yet (the
    assign form's suggestions list): two queries."""
    current = select(ExpertAssignment.user_id).where(ExpertAssignment.topic_id == topic.id,
                                                     ExpertAssignment.removed_at.is_(None))
    kinds = [UserKind.EMPLOYEE] + ([UserKind.PARTNER] if community.allow_external_experts else [])
    rows = db.session.execute(
        select(User, Membership).join(Membership, Membership.user_id == User.id)
        .where(Membership.community_id == community.id, User.kind.in_(kinds), User.id.notin_(current))
        .order_by(func.lower(User.display_name)).limit(limit)).all()
    return [u for u, m in rows if eligibility_problem(u, community, m, membership_known=True) is None]


# --- settings -----------------------------------------------------------------------------

def escalation_hours(community: Community) -> int:
    """The community's escalation delay in hours (DEFAULT_ESCALATION_HOURS when it has no setting).
    Raises nothing."""
    row = db.session.get(ExpertSettings, community.id)
    return row.escalation_hours if row else DEFAULT_ESCALATION_HOURS


def hours_by_community() -> dict[int, int]:
    """{community_id: hours} for communities with their own setting (one query)."""
    return dict(db.session.execute(select(ExpertSettings.community_id, ExpertSettings.escalation_hours)).all())


def set_escalation_hours(actor, slug: str, hours) -> ExpertSettings:
    """How long a question or idea may wait for an expert or staff answer before it escalates
    to the managers (1 hour to 30 days). Managers only. Raises ValidationError
    ({"escalation_hours": ...}), NotFound, Forbidden."""
    acc = access.community_for(actor, slug, "manage")
    value = inputs.as_int(hours, "escalation_hours", message="Enter a whole number of hours, e.g. 48.")
    if not MIN_HOURS <= value <= MAX_HOURS:
        raise ValidationError({"escalation_hours": f"Choose between {MIN_HOURS} hour and {MAX_HOURS} hours (30 days)."})
    row = db.session.get(ExpertSettings, acc.community.id)
    if row is None:
        row = ExpertSettings(community_id=acc.community.id)
        db.session.add(row)
    row.escalation_hours, row.updated_at, row.updated_by_id = value, clock.utcnow(), actor.id
    db.session.commit()
    return row


# --- answered, overdue --------------------------------------------------------------------

def _answered_by_staff_or_expert():
    """Correlated on Post: a live comment by someone other than the author who is staff of
    the community, or was an expert of one of the post's topics when they wrote it."""
    c = aliased(Comment, name="ans")
    u = aliased(User, name="ans_user")
    m = aliased(Membership, name="ans_role")
    a = aliased(ExpertAssignment, name="ans_expert")
    pt = post_topics.alias("ans_pt")
    # two levels deep: say what the inner EXISTS refer to outside themselves
    by_staff = exists().where(u.id == c.author_id, or_(u.is_admin.is_(True), u.is_global_manager.is_(True))
                              ).correlate(c)
    by_role = exists().where(m.community_id == Post.community_id, m.user_id == c.author_id,
                             m.role.in_([MemberRole.MANAGER, MemberRole.MODERATOR])).correlate(Post, c)
    by_expert = exists().where(pt.c.post_id == Post.id, a.topic_id == pt.c.topic_id, a.user_id == c.author_id,
                               a.assigned_at <= c.created_at,
                               or_(a.removed_at.is_(None), a.removed_at > c.created_at)).correlate(Post, c)
    return exists().where(c.post_id == Post.id, c.deleted_at.is_(None), c.author_id.isnot(None),
                          or_(Post.author_id.is_(None), c.author_id != Post.author_id),
                          or_(by_staff, by_role, by_expert))


def _resolved():
    """Correlated on Post: nobody is waiting on the organisation any more."""
    return or_(
        and_(Post.kind == PostKind.QUESTION,
             or_(Post.accepted_comment_id.isnot(None), _answered_by_staff_or_expert())),
        and_(Post.kind == PostKind.IDEA, Post.first_official_response_at.isnot(None)),
        Post.kind == PostKind.DISCUSSION,
    )


def _cutoff(now: datetime, hours: dict[int, int]):
    """Correlated on Post: posted longer ago than its community's escalation time."""
    groups: dict[int, list[int]] = defaultdict(list)
    for community_id, h in hours.items():
        if h != DEFAULT_ESCALATION_HOURS:
            groups[h].append(community_id)
    custom = [cid for ids in groups.values() for cid in ids]
    parts = [and_(Post.community_id.notin_(custom) if custom else true(),
                  Post.created_at <= now - timedelta(hours=DEFAULT_ESCALATION_HOURS))]
    for h, ids in sorted(groups.items()):
        parts.append(and_(Post.community_id.in_(ids), Post.created_at <= now - timedelta(hours=h)))
    return or_(*parts)


def waiting_clause():
    """Correlated on Post: a live question or idea that can wait for an answer."""
    return and_(Post.kind.in_(ROUTED_KINDS), Post.deleted_at.is_(None),
                Post.hidden_at.is_(None), Post.held_at.is_(None),  # moderation: not shown to readers
                or_(Post.status.is_(None), Post.status != IdeaStatus.DUPLICATE))


def _overdue(now: datetime, hours: dict[int, int]):
    return and_(waiting_clause(), _cutoff(now, hours), ~_resolved())


def is_resolved(post: Post) -> bool:
    """Whether the post needs nothing more from the organisation (one query)."""
    return bool(db.session.scalar(select(exists().where(Post.id == post.id, _resolved()))))


# --- routing ------------------------------------------------------------------------------

def route(post: Post, *, already_told=frozenset(), open_only: bool = False) -> set[int]:
    """Tell the current experts of the post's topics about a new question or idea, once each
    (kind "routed", their preferences respected), in the caller's transaction (the notify
    job). `already_told`: people who just got another notification about the post (a mention)
    and so are not told twice. `open_only`: do nothing for a post already answered (edits).

    Returns the ids of the experts told now (in Kring or by email), so the caller leaves them
    out of its other notifications about the post; an expert who turned these notifications
    off still hears about the post as a follower of its topic."""
    if post.kind not in ROUTED_KINDS or post.deleted_at is not None:
        return set()
    topics = select(post_topics.c.topic_id).where(post_topics.c.post_id == post.id)
    rows = db.session.execute(current_select(XA.user_id, XT.name).where(XA.topic_id.in_(topics))
                              .order_by(XT.name)).all()
    names: dict[int, list[str]] = defaultdict(list)
    for user_id, topic_name in rows:
        if user_id != post.author_id:
            names[user_id].append(topic_name)
    if not names:
        return set()
    before = set(db.session.scalars(select(ExpertRoute.user_id).where(ExpertRoute.post_id == post.id)))
    new = set(names) - before
    if not new or (open_only and is_resolved(post)):
        return set()
    now = clock.utcnow()
    for user_id in sorted(new):
        db.session.add(ExpertRoute(post_id=post.id, user_id=user_id, routed_at=now))
    author = post.author.display_name if post.author else "Someone"
    by_topics: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for user_id in new - set(already_told):
        by_topics[tuple(names[user_id])].append(user_id)
    what = "question" if post.kind == PostKind.QUESTION else "idea"
    told: set[int] = set()
    for topic_names, ids in by_topics.items():
        label = ", ".join(topic_names)
        told |= set(notifications.create(
            "routed", ids, actor_id=post.author_id, post=post,
            text=f"New {what} in {label}, where you are an expert: “{post.title}” by {author}"))
    return told


# --- escalation ---------------------------------------------------------------------------

@dataclass
class EscalationRun:
    escalated: int = 0
    resolved: int = 0
    reopened: int = 0
    flagged_topics: int = 0

    def __str__(self) -> str:
        text = (f"{self.escalated} item(s) escalated, {self.resolved} resolved, "
                f"{self.flagged_topics} topic(s) without an expert flagged")
        return text + (f", {self.reopened} reopened" if self.reopened else "")


def _managers_by_community(community_ids) -> dict[int, list[int]]:
    """{community_id: manager ids}; communities without a manager get the social team."""
    ids = set(community_ids)
    if not ids:
        return {}
    found: dict[int, list[int]] = defaultdict(list)
    for community_id, user_id in db.session.execute(select(Membership.community_id, Membership.user_id).where(
            Membership.community_id.in_(ids), Membership.role == MemberRole.MANAGER)):
        found[community_id].append(user_id)
    if ids - set(found):
        team = list(db.session.scalars(select(User.id).where(User.is_global_manager.is_(True))))
        for community_id in ids - set(found):
            found[community_id] = team
    return dict(found)


def format_duration(delta: timedelta | None) -> str:
    """'45 min', '5 h', '3 days 4 h' (for ages and response times)."""
    if delta is None:
        return "—"
    minutes = max(int(delta.total_seconds() // 60), 0)
    if minutes < 60:
        return f"{minutes} min"
    hours = minutes // 60
    if hours < 48:
        rest = minutes % 60
        return f"{hours} h" + (f" {rest} min" if rest and hours < 10 else "")
    days, rest = divmod(hours, 24)
    return f"{days} days" + (f" {rest} h" if rest else "")


def _gaps(now: datetime, community_ids=None):
    """Topics with no current expert: [(topic, community, gap_since)], oldest gap first (one
    query). A gap starts when the topic is made or its last expert is removed."""
    last_removed = (select(ExpertAssignment.topic_id, func.max(ExpertAssignment.removed_at).label("removed"))
                    .group_by(ExpertAssignment.topic_id).subquery())
    stmt = (select(Topic, Community, last_removed.c.removed)
            .join(Community, Community.id == Topic.community_id)
            .outerjoin(last_removed, last_removed.c.topic_id == Topic.id)
            .where(Topic.id.notin_(current_select(XA.topic_id))))
    if community_ids is not None:
        stmt = stmt.where(Topic.community_id.in_(community_ids))
    rows = []
    for topic, community, removed in db.session.execute(stmt):
        since = max(topic.created_at, removed) if removed else topic.created_at
        rows.append((topic, community, since))
    rows.sort(key=lambda r: (r[2], r[0].id))
    return rows


def _insert_ignoring_duplicates(rows: list[dict], *, returning: bool = False):
    """INSERT escalations, skipping posts another run escalated at the same moment (ON CONFLICT
    DO NOTHING on SQLite and PostgreSQL). With `returning`, one row: the new id, or None."""
    name = db.session.get_bind().dialect.name
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    stmt = dialect_insert(Escalation).on_conflict_do_nothing(index_elements=["post_id"])
    if returning:
        return db.session.execute(stmt.values(**rows[0]).returning(Escalation.id)).scalar()
    if rows:
        db.session.execute(stmt, rows)
    return None


def _escalation_text(post: Post, community: Community, now: datetime) -> str:
    waiting = format_duration(now - post.created_at)
    if post.kind == PostKind.QUESTION:
        return (f"Waiting {waiting}: the question “{post.title}” in {community.name} has no answer "
                "from an expert or the community's staff yet")
    return f"Waiting {waiting}: the idea “{post.title}” in {community.name} has no official response yet"


def escalate() -> EscalationRun:
    """Record every question and idea that went past its community's answer time (the
    needs-attention queue) and tell its community's managers once; close what got its answer
    since (or was deleted), reopen what lost it; flag topics that have had no expert for longer
    than their community's answer time. Items that were already overdue for longer than
    ESCALATION_WINDOW when first seen join the queue without a notification (no flood on a
    site's first run). Idempotent: a second run at once does nothing. Commits. Returns what it
    did."""
    now = clock.utcnow()
    hours = hours_by_community()
    run = EscalationRun()
    found = db.session.execute(
        select(Post.id, Post.community_id, Post.created_at)
        .where(_overdue(now, hours), ~exists().where(Escalation.post_id == Post.id))
        .order_by(Post.created_at.desc(), Post.id.desc()).limit(ESCALATION_SCAN)).all()
    due = {post_id: created + timedelta(hours=hours.get(cid, DEFAULT_ESCALATION_HOURS))
           for post_id, cid, created in found}
    # long overdue when first seen: into the queue without a notification; the others are
    # notified, oldest first, at most ESCALATION_BATCH a run (the rest wait for the next run)
    silent = [r for r in found if due[r[0]] < now - ESCALATION_WINDOW]
    recent = sorted((r for r in found if due[r[0]] >= now - ESCALATION_WINDOW),
                    key=lambda r: (r[2], r[0]))[:ESCALATION_BATCH]
    recent_ids = {r[0] for r in recent}
    _insert_ignoring_duplicates([
        {"post_id": post_id, "community_id": cid, "posted_at": created, "due_at": due[post_id],
         "escalated_at": now, "notified": 0} for post_id, cid, created in silent])
    run.escalated += len(silent)
    gaps = [(t, c, since) for t, c, since in _gaps(now)
            if since <= now - timedelta(hours=hours.get(c.id, DEFAULT_ESCALATION_HOURS))]
    flagged = {(topic_id, since) for topic_id, since in db.session.execute(
        select(TopicFlag.topic_id, TopicFlag.gap_since).where(
            TopicFlag.topic_id.in_([t.id for t, _c, _s in gaps])))} if gaps else set()
    gaps = [(t, c, since) for t, c, since in gaps if (t.id, since) not in flagged]
    managers = _managers_by_community({r[1] for r in recent} | {c.id for _t, c, _s in gaps})
    posts_by_id = {p.id: p for p in db.session.scalars(
        select(Post).options(joinedload(Post.community)).where(Post.id.in_(recent_ids)))} if recent_ids else {}
    for post_id, cid, created in recent:
        new_id = _insert_ignoring_duplicates([{
            "post_id": post_id, "community_id": cid, "posted_at": created, "due_at": due[post_id],
            "escalated_at": now, "notified": 0}], returning=True)
        if new_id is None:  # another run escalated it at the same moment
            continue
        post = posts_by_id[post_id]
        told = notifications.create("escalation", managers.get(cid, []), actor_id=None, post=post,
                                    text=_escalation_text(post, post.community, now))
        db.session.execute(update(Escalation).where(Escalation.id == new_id).values(notified=len(told)))
        run.escalated += 1
    for topic, community, since in gaps:
        flag = TopicFlag(topic_id=topic.id, gap_since=since, flagged_at=now)
        try:
            with db.session.begin_nested():
                db.session.add(flag)
        except IntegrityError:
            continue
        flag.notified = len(notifications.create(
            "escalation", managers.get(community.id, []), actor_id=None, community=community,
            text=f"The topic “{topic.name}” in {community.name} has had no expert for "
                 f"{format_duration(now - since)}: its questions and ideas reach nobody. Assign an expert."))
        run.flagged_topics += 1
    settled = or_(Post.deleted_at.isnot(None), _resolved(), ~_cutoff(now, hours))
    run.resolved = db.session.execute(
        update(Escalation).where(Escalation.resolved_at.is_(None),
                                 exists().where(Post.id == Escalation.post_id, settled))
        .values(resolved_at=now).execution_options(synchronize_session=False)).rowcount
    run.reopened = db.session.execute(
        update(Escalation).where(Escalation.resolved_at.isnot(None),
                                 Escalation.resolved_at >= now - ESCALATION_WINDOW,
                                 exists().where(Post.id == Escalation.post_id, _overdue(now, hours)))
        .values(resolved_at=None).execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    return run


def recheck(post: Post) -> None:
    """Close the post's open escalation at once when it got its answer (called by the
    notification jobs of comments, accepted answers and status changes, in their transaction),
    so the queue does not wait for the next run."""
    db.session.execute(
        update(Escalation).where(Escalation.post_id == post.id, Escalation.resolved_at.is_(None),
                                 exists().where(Post.id == Escalation.post_id,
                                                or_(Post.deleted_at.isnot(None), _resolved())))
        .values(resolved_at=clock.utcnow()).execution_options(synchronize_session=False))


@jobs.periodic("experts.escalate", every=timedelta(minutes=10))
def _escalate_job(payload: dict) -> None:
    escalate()


# --- the needs-attention queue ------------------------------------------------------------

@dataclass
class OverdueItem:
    post: Post
    age: timedelta
    overdue_for: timedelta
    escalated_at: datetime | None  # when the managers were told (None: listed without a notification)
    experts: list[ExpertEntry]


@dataclass
class UnownedTopic:
    topic: Topic
    community: Community
    since: datetime
    age: timedelta
    overdue: bool  # longer than the community's escalation time: the managers were told


@dataclass
class AttentionQueue:
    items: list[OverdueItem]
    total: int
    page: int
    per_page: int
    topics: list[UnownedTopic] = field(default_factory=list)


def _open_escalations(community_ids=None, topic_ids=None):
    """WHERE clauses on Escalation: open, in these communities / topics (None: all)."""
    where = [Escalation.resolved_at.is_(None)]
    if community_ids is not None:
        where.append(Escalation.community_id.in_(community_ids))
    if topic_ids is not None:
        where.append(Escalation.post_id.in_(select(post_topics.c.post_id).where(post_topics.c.topic_id.in_(topic_ids))))
    return where


def overdue_page(community_ids, now, hours, *, topic_ids=None, page=1, per_page=QUEUE_PER_PAGE):
    """(items, total): the open escalations of these communities or topics (None: all),
    oldest post first, read from the Escalation rows (indexed) rather than recomputed; the
    rows shown are checked once more, so something answered a moment ago is not listed."""
    where = _open_escalations(community_ids, topic_ids)
    total = db.session.scalar(select(func.count()).select_from(Escalation).where(*where)) or 0
    rows = db.session.execute(
        select(Post, Escalation).join(Escalation, Escalation.post_id == Post.id).where(*where)
        .options(joinedload(Post.community), joinedload(Post.author), selectinload(Post.topics))
        .order_by(Escalation.posted_at, Escalation.post_id)
        .limit(per_page).offset((max(page, 1) - 1) * per_page)).unique().all()
    ids = [p.id for p, _e in rows]
    settled = set(db.session.scalars(select(Post.id).where(
        Post.id.in_(ids), or_(Post.deleted_at.isnot(None), _resolved())))) if ids else set()
    by_topic = experts_by_topic({t.id for p, _e in rows for t in p.topics})
    items = []
    for p, esc in rows:
        if p.id in settled:
            continue
        experts, seen = [], set()
        for t in p.topics:
            for entry in by_topic.get(t.id, []):
                if entry.user.id not in seen:
                    seen.add(entry.user.id)
                    experts.append(entry)
        items.append(OverdueItem(p, now - p.created_at, now - esc.due_at,
                                 esc.escalated_at if esc.notified else None, experts))
    return items, total - len(settled)


def attention(viewer, *, page: int = 1, per_page: int = QUEUE_PER_PAGE) -> AttentionQueue:
    """Everything overdue in the communities the viewer manages (staff: all), oldest first,
    and their topics without an expert. Items join the queue at the escalation run after their
    answer time (every 10 minutes) and leave it as soon as they are answered. Raises Forbidden
    for someone who manages nothing. A constant number of queries."""
    if not access.manages_any(viewer):
        raise Forbidden("The needs-attention queue is for community managers and the social team.")
    now = clock.utcnow()
    hours = hours_by_community()
    managed = access.managed_community_ids(viewer)
    items, total = overdue_page(managed, now, hours, page=page, per_page=per_page)
    topics = [UnownedTopic(t, c, since, now - since,
                           since <= now - timedelta(hours=hours.get(c.id, DEFAULT_ESCALATION_HOURS)))
              for t, c, since in _gaps(now, managed)]
    return AttentionQueue(items, total, page, per_page, topics)
