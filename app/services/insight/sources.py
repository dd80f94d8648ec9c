"""The data behind the dashboards, one function per source.

Each `*_live(lo, hi)` is a SELECT over the live tables that yields, for the whole weeks from
lo to hi, exactly the rows its rollup table keeps (app.models.insight). The rollup job
writes a week with INSERT ... SELECT of that query; `source()` reads the rolled-up weeks from
the table and any later week live, as one UNION ALL subquery: both paths give the same
figures (the tests compare them).

What counts (everywhere): live content only. A deleted post takes its comments and votes
with it; deleted comments and chat messages do not count; a withdrawn vote is gone.
"""
from __future__ import annotations

from functools import lru_cache

from sqlalchemy import (
    DateTime,
    String,
    and_,
    bindparam,
    case,
    exists,
    false,
    func,
    literal_column,
    or_,
    select,
    type_coerce,
    union,
    union_all,
)
from sqlalchemy.orm import aliased

from app.models import (
    ChatMessage,
    Comment,
    ExpertAssignment,
    IdeaStatus,
    MemberRole,
    Membership,
    Post,
    PostKind,
    StatusChange,
    User,
    UserKind,
    Vote,
    post_topics,
)
from app.models.insight import (
    RESPONSE_TARGET_HOURS,
    InsightActivity,
    InsightCommunity,
    InsightPeople,
    InsightPost,
    InsightPostWeek,
    InsightReplies,
    InsightThreads,
)
from app.services.insight.sql import seconds_between, sql_week, week_end, week_start

ONE, ZERO = literal_column("1"), literal_column("0")


def _in_weeks(column, lo, hi):
    """lo <= column < hi (datetimes, or bound parameters standing for them)."""
    return and_(column >= lo, column < hi)


# --- participation: who did what, where, which week ----------------------------------------

def activity_live(lo, hi):
    """(week, community_id, user_id, posts, comments, votes, chats) per person, community, week."""
    posts = (select(sql_week(Post.created_at).label("week"), Post.community_id, Post.author_id.label("user_id"),
                    ONE.label("posts"), ZERO.label("comments"), ZERO.label("votes"), ZERO.label("chats"))
             .where(_in_weeks(Post.created_at, lo, hi), Post.deleted_at.is_(None), Post.author_id.isnot(None)))
    comments = (select(sql_week(Comment.created_at), Post.community_id, Comment.author_id, ZERO, ONE, ZERO, ZERO)
                .join(Post, Post.id == Comment.post_id)
                .where(_in_weeks(Comment.created_at, lo, hi), Comment.deleted_at.is_(None),
                       Comment.author_id.isnot(None), Post.deleted_at.is_(None)))
    votes = (select(sql_week(Vote.created_at), Post.community_id, Vote.user_id, ZERO, ZERO, ONE, ZERO)
             .join(Post, Post.id == Vote.post_id)
             .where(_in_weeks(Vote.created_at, lo, hi), Post.deleted_at.is_(None)))
    chats = (select(sql_week(ChatMessage.created_at), ChatMessage.community_id, ChatMessage.author_id,
                    ZERO, ZERO, ZERO, ONE)
             .where(_in_weeks(ChatMessage.created_at, lo, hi), ChatMessage.deleted_at.is_(None),
                    ChatMessage.author_id.isnot(None)))
    rows = union_all(posts, comments, votes, chats).subquery("activity_rows")
    return (select(rows.c.week, rows.c.community_id, rows.c.user_id,
                   func.sum(rows.c.posts).label("posts"), func.sum(rows.c.comments).label("comments"),
                   func.sum(rows.c.votes).label("votes"), func.sum(rows.c.chats).label("chats"))
            .group_by(rows.c.week, rows.c.community_id, rows.c.user_id))


def people_live(lo, hi):
    """(week, user_id, posts, comments, votes, chats): activity summed over communities."""
    a = activity_live(lo, hi).subquery("by_community")
    return (select(a.c.week, a.c.user_id, func.sum(a.c.posts).label("posts"), func.sum(a.c.comments).label("comments"),
                   func.sum(a.c.votes).label("votes"), func.sum(a.c.chats).label("chats"))
            .group_by(a.c.week, a.c.user_id))


def communities_live(lo, hi):
    """(week, community_id, posts, comments, votes, chats, people, writers): activity summed
    over people (people: who did anything there that week; writers: who wrote something)."""
    a = activity_live(lo, hi).subquery("by_person")
    wrote = a.c.posts + a.c.comments + a.c.chats
    return (select(a.c.week, a.c.community_id, func.sum(a.c.posts).label("posts"),
                   func.sum(a.c.comments).label("comments"), func.sum(a.c.votes).label("votes"),
                   func.sum(a.c.chats).label("chats"), func.count().label("people"),
                   func.sum(case((wrote > 0, 1), else_=0)).label("writers"))
            .group_by(a.c.week, a.c.community_id))


# --- across departments ---------------------------------------------------------------------

def replies_live(lo, hi):
    """(week, community_id, from_department_id, to_department_id, replies): comments by an
    employee with a department on the post (or, for a reply, the comment) of another person
    who is an employee with a department."""
    parent = aliased(Comment, name="parent")
    writer = aliased(User, name="writer")
    target = aliased(User, name="target")
    target_id = case((Comment.parent_id.isnot(None), parent.author_id), else_=Post.author_id)
    return (select(sql_week(Comment.created_at).label("week"), Post.community_id,
                   writer.department_id.label("from_department_id"),
                   target.department_id.label("to_department_id"), func.count().label("replies"))
            .select_from(Comment)
            .join(Post, Post.id == Comment.post_id)
            .outerjoin(parent, parent.id == Comment.parent_id)
            .join(writer, writer.id == Comment.author_id)
            .join(target, target.id == target_id)
            .where(_in_weeks(Comment.created_at, lo, hi), Comment.deleted_at.is_(None),
                   Post.deleted_at.is_(None), writer.id != target.id,
                   writer.kind == UserKind.EMPLOYEE, target.kind == UserKind.EMPLOYEE,
                   writer.department_id.isnot(None), target.department_id.isnot(None))
            .group_by(sql_week(Comment.created_at), Post.community_id, writer.department_id,
                      target.department_id))


def threads_live(lo, hi):
    """(week, community_id, department_id, threads, cross_threads) for the posts started in
    those weeks; department_id 0 counts every thread (see InsightThreads)."""
    started = (select(Post.id, Post.community_id, sql_week(Post.created_at).label("week"), Post.author_id)
               .where(_in_weeks(Post.created_at, lo, hi), Post.deleted_at.is_(None))
               .subquery("started"))
    people = union(
        select(started.c.id.label("post_id"), started.c.author_id.label("user_id"))
        .where(started.c.author_id.isnot(None)),
        select(Comment.post_id, Comment.author_id).join(started, started.c.id == Comment.post_id)
        .where(Comment.deleted_at.is_(None), Comment.author_id.isnot(None)),
    ).subquery("people")
    dept = case((User.kind == UserKind.EMPLOYEE, User.department_id))
    per_post = (select(people.c.post_id, func.count(func.distinct(people.c.user_id)).label("people"),
                       func.count(func.distinct(dept)).label("departments"))
                .join(User, User.id == people.c.user_id).group_by(people.c.post_id).subquery("per_post"))
    stats = (select(started.c.week, started.c.community_id, per_post.c.post_id,
                    case((per_post.c.people >= 2, 1), else_=0).label("is_thread"),
                    case((and_(per_post.c.people >= 2, per_post.c.departments >= 2), 1), else_=0).label("is_cross"))
             .join(per_post, per_post.c.post_id == started.c.id).subquery("stats"))
    post_departments = (select(people.c.post_id, User.department_id)
                        .join(User, User.id == people.c.user_id)
                        .where(User.kind == UserKind.EMPLOYEE, User.department_id.isnot(None))
                        .distinct().subquery("post_departments"))
    everyone = (select(stats.c.week, stats.c.community_id, ZERO.label("department_id"),
                       func.sum(stats.c.is_thread).label("threads"), func.sum(stats.c.is_cross).label("cross_threads"))
                .group_by(stats.c.week, stats.c.community_id)
                .having(func.sum(stats.c.is_thread) > 0))
    by_department = (select(stats.c.week, stats.c.community_id, post_departments.c.department_id,
                            func.sum(stats.c.is_thread), func.sum(stats.c.is_cross))
                     .join(post_departments, post_departments.c.post_id == stats.c.post_id)
                     .group_by(stats.c.week, stats.c.community_id, post_departments.c.department_id)
                     .having(func.sum(stats.c.is_thread) > 0))
    return union_all(everyone, by_department)


# --- questions and ideas with their response facts ------------------------------------------

def _was_expert(assignment, user_id, moment):
    """Correlated on Post (and on whatever `user_id`/`moment` come from): `user_id` was an
    expert of one of the post's topics at `moment`."""
    pt = post_topics.alias("xpt")
    return (exists().where(pt.c.post_id == Post.id, assignment.topic_id == pt.c.topic_id,
                           assignment.user_id == user_id, assignment.assigned_at <= moment,
                           or_(assignment.removed_at.is_(None), assignment.removed_at > moment))
            .correlate_except(pt, assignment))


def _first_comment(condition, name: str):
    """Correlated on Post: the first live comment by someone other than the author that meets
    `condition(comment, commenter)`."""
    c = aliased(Comment, name=f"{name}_c")
    u = aliased(User, name=f"{name}_u")
    return (select(func.min(c.created_at)).select_from(c).join(u, u.id == c.author_id)
            .where(c.post_id == Post.id, c.deleted_at.is_(None),
                   or_(Post.author_id.is_(None), c.author_id != Post.author_id), condition(c, u))
            .correlate(Post).scalar_subquery())


STAGES = (("new", IdeaStatus.NEW), ("review", IdeaStatus.UNDER_REVIEW), ("planned", IdeaStatus.PLANNED),
          ("progress", IdeaStatus.IN_PROGRESS))
REACHED = ((IdeaStatus.UNDER_REVIEW, 1), (IdeaStatus.PLANNED, 2), (IdeaStatus.IN_PROGRESS, 3), (IdeaStatus.DONE, 4))


def _idea_history(lo, hi):
    """Per idea posted in lo..hi that changed status: the furthest stage it reached (0 new ..
    4 done), whether it was ever declined, and the seconds it spent in each stage it left (the
    sum over its visits), from the status changes (LAG: each change ends the previous spell)."""
    previous = func.lag(StatusChange.created_at).over(partition_by=StatusChange.post_id,
                                                      order_by=(StatusChange.created_at, StatusChange.id))
    spells = (select(StatusChange.post_id, func.coalesce(StatusChange.from_status, IdeaStatus.NEW.value).label("stage"),
                     StatusChange.to_status,
                     seconds_between(StatusChange.created_at, func.coalesce(previous, Post.created_at)).label("secs"))
              .join(Post, Post.id == StatusChange.post_id)
              .where(_in_weeks(Post.created_at, lo, hi), Post.kind == PostKind.IDEA, Post.deleted_at.is_(None))
              .subquery("spells"))
    rank = case(*[(spells.c.to_status == status, n) for status, n in REACHED], else_=0)
    return (select(spells.c.post_id, func.max(rank).label("stage_reached"),
                   func.max(case((spells.c.to_status == IdeaStatus.DECLINED, 1), else_=0)).label("declined"),
                   *[func.sum(case((spells.c.stage == status.value, spells.c.secs))).label(f"secs_{key}")
                     for key, status in STAGES])
            .group_by(spells.c.post_id).subquery("history"))


def posts_live(lo, hi):
    """The InsightPost rows (see its docstring) of the live questions and ideas posted in lo..hi."""
    author = aliased(User, name="author")

    def staff_or_expert(c, u):
        a = aliased(ExpertAssignment, name="off_a")
        m = aliased(Membership, name="off_m")
        role = (exists().where(m.community_id == Post.community_id, m.user_id == c.author_id,
                               m.role.in_([MemberRole.MANAGER, MemberRole.MODERATOR])).correlate_except(m))
        return or_(u.is_admin.is_(True), u.is_global_manager.is_(True), role, _was_expert(a, c.author_id, c.created_at))

    def expert(c, u):
        return _was_expert(aliased(ExpertAssignment, name="exp_a"), c.author_id, c.created_at)

    sc = aliased(StatusChange, name="sc")
    expert_status = (select(func.min(sc.created_at))
                     .where(sc.post_id == Post.id, sc.actor_id.isnot(None),
                            _was_expert(aliased(ExpertAssignment, name="sc_a"), sc.actor_id, sc.created_at))
                     .correlate(Post).scalar_subquery())
    covered_a = aliased(ExpertAssignment, name="cov_a")
    covered_pt = post_topics.alias("cov_pt")
    covered = (exists().where(covered_pt.c.post_id == Post.id, covered_a.topic_id == covered_pt.c.topic_id,
                              covered_a.assigned_at <= Post.created_at,
                              or_(covered_a.removed_at.is_(None), covered_a.removed_at > Post.created_at))
               .correlate_except(covered_pt, covered_a))
    official = case((Post.kind == PostKind.IDEA, Post.first_official_response_at),
                    else_=_first_comment(staff_or_expert, "off"))
    history = _idea_history(lo, hi)
    inner = (select(Post.id.label("post_id"), sql_week(Post.created_at).label("week"), Post.community_id,
                    Post.kind.label("kind"), author.kind.label("author_kind"), Post.created_at,
                    official.label("official_at"), _first_comment(expert, "exp").label("expert_comment"),
                    case((Post.kind == PostKind.IDEA, expert_status)).label("expert_status"),
                    covered.label("expert_covered"), Post.accepted_comment_id.isnot(None).label("accepted"),
                    Post.status.label("status"), Post.vote_count.label("votes"), Post.view_count.label("views"),
                    func.coalesce(history.c.stage_reached, 0).label("stage_reached"),
                    func.coalesce(history.c.declined, 0).label("declined"),
                    *[history.c[f"secs_{key}"] for key, _s in STAGES])
             .select_from(Post).outerjoin(author, author.id == Post.author_id)
             .outerjoin(history, history.c.post_id == Post.id)
             .where(_in_weeks(Post.created_at, lo, hi), Post.deleted_at.is_(None),
                    Post.kind.in_([PostKind.QUESTION, PostKind.IDEA]))
             .subquery("facts"))
    comment_at, status_at = inner.c.expert_comment, inner.c.expert_status
    expert_at = case((status_at.is_(None), comment_at), (comment_at.is_(None), status_at),
                     (status_at < comment_at, status_at), else_=comment_at)
    return select(inner.c.post_id, inner.c.week, inner.c.community_id, inner.c.kind, inner.c.author_kind,
                  inner.c.created_at, inner.c.official_at, expert_at.label("expert_at"),
                  seconds_between(inner.c.official_at, inner.c.created_at).label("official_secs"),
                  seconds_between(expert_at, inner.c.created_at).label("expert_secs"), inner.c.expert_covered,
                  inner.c.accepted, inner.c.status, inner.c.votes, inner.c.views, inner.c.stage_reached,
                  inner.c.declined, *[inner.c[f"secs_{key}"] for key, _s in STAGES])


def summarize(facts):
    """InsightPostWeek rows from a selectable of InsightPost rows (the live ones, or the rolled-up
    rows of a week)."""
    def count_if(condition, value=1):
        return func.sum(case((condition, value), else_=0))

    yes = facts.c.accepted.is_(True)
    # plain strings ('' for none), not the enums of the live columns
    status = type_coerce(func.coalesce(facts.c.status, ""), String)
    author_kind = type_coerce(func.coalesce(facts.c.author_kind, ""), String)
    return (select(facts.c.week, facts.c.community_id, facts.c.kind, author_kind.label("author_kind"),
                   status.label("status"), func.count().label("n"), func.count(facts.c.official_at).label("responded"),
                   count_if(facts.c.official_secs <= RESPONSE_TARGET_HOURS * 3600).label("within"),
                   count_if(facts.c.expert_covered.is_(True)).label("covered"),
                   count_if(and_(facts.c.expert_covered.is_(True), facts.c.expert_at.isnot(None))).label("covered_answered"),
                   count_if(yes).label("accepted"), count_if(yes, facts.c.views).label("accepted_views"),
                   count_if(~yes, facts.c.views).label("other_views"), func.sum(facts.c.votes).label("votes"),
                   *[count_if(facts.c.stage_reached >= i).label(f"reached{i}") for i in range(1, 5)],
                   func.sum(facts.c.declined).label("declined"))
            .group_by(facts.c.week, facts.c.community_id, facts.c.kind, author_kind, status))


def post_weeks_live(lo, hi):
    """The InsightPostWeek rows of the questions and ideas posted in lo..hi."""
    return summarize(posts_live(lo, hi).subquery("facts_live"))


def post_weeks_from_rollup(week):
    """The InsightPostWeek rows of a week from its freshly rolled-up InsightPost rows."""
    return summarize(select(InsightPost).where(InsightPost.week == week).subquery("facts_rolled"))


# --- rolled-up and live together --------------------------------------------------------------

TABLES = {"activity": (InsightActivity, activity_live), "people": (InsightPeople, people_live),
          "communities": (InsightCommunity, communities_live), "replies": (InsightReplies, replies_live),
          "threads": (InsightThreads, threads_live), "posts": (InsightPost, posts_live),
          "post_weeks": (InsightPostWeek, post_weeks_live)}  # after "posts": the rollup sums its rows


def live_weeks(name: str, first: int, last: int):
    """The live query of source `name` for weeks first..last (the rollup job's SELECT)."""
    return TABLES[name][1](week_start(first), week_end(last))


def split(first: int, last: int, rolled_through: int | None) -> tuple[str, dict]:
    """Which parts a period needs ("rolled", "live", "both" or "none") and the values of their
    bound parameters: r1..r2 the rolled-up weeks, lo..hi the time range read live."""
    params: dict = {}
    rolled = rolled_through is not None and first <= rolled_through
    live_first = first if rolled_through is None else max(first, rolled_through + 1)
    live = live_first <= last
    if rolled:
        params.update(r1=first, r2=min(last, rolled_through))
    if live:
        params.update(lo=week_start(live_first), hi=week_end(last))
    return ("both" if rolled and live else "rolled" if rolled else "live" if live else "none"), params


@lru_cache(maxsize=256)
def source(name: str, parts: str, by_community: bool, prefix: str = ""):
    """The rows of source `name` as a subquery with bound parameters (see split(); names start
    with `prefix`, the communities are `<prefix>cids`): the rolled-up weeks from the rollup
    table, later ones live. Built once per shape and reused (statements are expensive to build,
    cheap to run again with other values). `people` has no communities: never by_community."""
    model, live = TABLES[name]
    if by_community and "community_id" not in model.__table__.c:
        raise ValueError(f"source {name!r} cannot be filtered by community")
    columns = [c.name for c in model.__table__.columns]
    cids = bindparam(f"{prefix}cids", expanding=True)
    chosen = []
    if parts in ("rolled", "both"):
        stored = select(*[model.__table__.c[c] for c in columns]).where(
            model.week >= bindparam(f"{prefix}r1"), model.week <= bindparam(f"{prefix}r2"))
        if by_community:
            stored = stored.where(model.community_id.in_(cids))
        chosen.append(stored)
    if parts in ("live", "both"):
        inner = live(bindparam(f"{prefix}lo", type_=DateTime), bindparam(f"{prefix}hi", type_=DateTime)).subquery(f"{name}_live")
        fresh = select(*[inner.c[c] for c in columns])
        if by_community:
            fresh = fresh.where(inner.c.community_id.in_(cids))
        chosen.append(fresh)
    if not chosen:  # an empty period: no rows, the right columns
        chosen.append(select(*[model.__table__.c[c] for c in columns]).where(false()))
    query = chosen[0] if len(chosen) == 1 else union_all(*chosen)
    return query.subquery(f"src_{prefix}{name}")
