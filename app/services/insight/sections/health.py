"""Community health: which communities are alive (activity, growth, the most and the least
active).
"""
from __future__ import annotations

from sqlalchemy import case, func, select

from app.models import Community, Membership, User
from app.services.insight.context import Ctx, as_int, dt_param, share
from app.services.insight.report import INT, NUM, PCT, TEXT, WEEK, Chart, Column, Figure, Section, Table
from app.services.insight.sql import sql_week, week_start
from app.wording import plural


def health(ctx: Ctx) -> Section:
    """The community-health section: active communities, growth, communities from the most to the
    least active. Returns a report.Section; raises nothing of its own."""
    f = ctx.filters
    section = Section("health", "Community health",
                      "Which communities are alive: activity, growth, the most and the least active.")
    per = {row.community_id: row for row in ctx.rows("health.per", lambda: _per_build(ctx))}
    member_rows = {row.community_id: row for row in ctx.rows("health.members", lambda: _members_build(ctx))}
    existing = [cid for (cid,) in ctx.rows("health.communities", lambda: _communities_build(ctx))]
    weeks = len(f.weeks)
    active_communities = sum(1 for cid in existing if cid in per and per[cid].weeks)
    active_weeks = sum(as_int(per[cid].weeks) for cid in existing if cid in per)
    trend = _weekly_table(ctx)
    posts_before = as_int(ctx.one("health.previous", lambda: _previous_build(ctx))[0])
    posts_now = sum(as_int(r.posts) for r in per.values())
    members_end = sum(as_int(r.members) for r in member_rows.values())
    members_new = sum(as_int(r.new) for r in member_rows.values())
    section.figures = [
        Figure("Active communities", active_communities, INT,
               f"of {len(existing)} (a post, comment or chat message in the period)"),
        Figure("Posts", posts_now, INT, _growth(posts_now, posts_before, "on the previous period")),
        Figure("Memberships", members_end, INT,
               _growth(members_end, members_end - members_new, "since the start of the period")),
    ]
    section.tables = [trend]
    if not ctx.scope.is_community:
        section.tables.append(_communities_table(ctx, existing, per, member_rows))
        if ctx.scope.hidden and f.community is None:
            section.notes.append(f"{plural(ctx.scope.hidden, 'community', 'communities')} you cannot "
                                 "read are counted in the totals but not listed.")
    section.notes.append("Activity: posts, comments, votes and chat messages in the period. Active people a week: "
                         "the people who took part there in a week, on average over the period's weeks (within the "
                         "people filters); members active in a week: that average over the members.")
    if not per and not members_new:
        section.empty_message = "No activity and no new members in this period."
    section.scores["health"] = share(active_weeks, len(existing) * weeks)
    return section


# --- the statements: per-person rows when the people filters are in use, else per community ---

def _per_build(ctx: Ctx):
    """Per community: sums, person-weeks (people who took part, summed over the weeks) and
    weeks with something written."""
    if ctx.people():
        a = ctx.src("activity")
        wrote = a.c.posts + a.c.comments + a.c.chats
        return (select(a.c.community_id, func.sum(a.c.posts).label("posts"),
                       func.sum(a.c.comments).label("comments"), func.sum(a.c.votes).label("votes"),
                       func.sum(a.c.chats).label("chats"), func.count().label("people"),
                       func.count(func.distinct(case((wrote > 0, a.c.week)))).label("weeks"))
                .join(User, User.id == a.c.user_id).where(*ctx.people()).group_by(a.c.community_id))
    c = ctx.src("communities")
    return (select(c.c.community_id, func.sum(c.c.posts).label("posts"), func.sum(c.c.comments).label("comments"),
                   func.sum(c.c.votes).label("votes"), func.sum(c.c.chats).label("chats"),
                   func.sum(c.c.people).label("people"), func.sum(case((c.c.writers > 0, 1), else_=0)).label("weeks"))
            .group_by(c.c.community_id))


def _members_build(ctx: Ctx):
    return (select(Membership.community_id, func.count().label("members"),
                   func.sum(case((Membership.created_at >= dt_param("start"), 1), else_=0)).label("new"))
            .join(User, User.id == Membership.user_id)
            .where(Membership.created_at < dt_param("end"), *ctx.people(), *ctx.in_communities(Membership.community_id))
            .group_by(Membership.community_id))


def _communities_build(ctx: Ctx):
    return select(Community.id).where(Community.created_at < dt_param("end"), *ctx.in_communities(Community.id))


def _weekly_build(ctx: Ctx):
    if ctx.people():
        a = ctx.src("activity")
        wrote = a.c.posts + a.c.comments + a.c.chats
        return (select(a.c.week, func.count(func.distinct(case((wrote > 0, a.c.community_id)))).label("active"),
                       func.sum(a.c.posts).label("posts")).join(User, User.id == a.c.user_id)
                .where(*ctx.people()).group_by(a.c.week))
    c = ctx.src("communities")
    return (select(c.c.week, func.sum(case((c.c.writers > 0, 1), else_=0)).label("active"),
                   func.sum(c.c.posts).label("posts")).group_by(c.c.week))


def _new_members_build(ctx: Ctx):
    week = sql_week(Membership.created_at)
    return (select(week, func.count()).join(User, User.id == Membership.user_id)
            .where(Membership.created_at >= dt_param("start"), Membership.created_at < dt_param("end"), *ctx.people(),
                   *ctx.in_communities(Membership.community_id)).group_by(week))


def _previous_build(ctx: Ctx):
    if ctx.people():
        a = ctx.src("activity", previous=True)
        return select(func.sum(a.c.posts)).join(User, User.id == a.c.user_id).where(*ctx.people())
    c = ctx.src("communities", previous=True)
    return select(func.sum(c.c.posts))


# --- the tables -------------------------------------------------------------------------------

def _weekly_table(ctx: Ctx) -> Table:
    weekly = {row.week: row for row in ctx.rows("health.weekly", lambda: _weekly_build(ctx))}
    new_members = dict(ctx.rows("health.new_members", lambda: _new_members_build(ctx)))
    week_rows = [[week_start(w).date(), as_int(weekly[w].active) if w in weekly else 0,
                  as_int(weekly[w].posts) if w in weekly else 0, new_members.get(w, 0)] for w in ctx.filters.weeks]
    return Table("health-weekly", "Active communities, posts and new members week by week", [
        Column("week", "Week of", WEEK), Column("active", "Active communities"), Column("posts", "Posts"),
        Column("new", "New members")], week_rows, Chart("line", ("active", "posts", "new")),
        empty_message="No activity in this period.")


def _communities_table(ctx: Ctx, existing: list[int], per: dict, member_rows: dict) -> Table:
    """The communities the viewer may read, from the most to the least active."""
    named = {c.id: c.name for c in ctx.scope.communities}
    weeks = len(ctx.filters.weeks)
    rows = []
    for cid in existing:
        if cid not in named:
            continue
        r, m = per.get(cid), member_rows.get(cid)
        vals = [as_int(getattr(r, k)) if r else 0 for k in ("posts", "comments", "votes", "chats")]
        weekly_people = as_int(r.people) / weeks if r else 0.0
        members = as_int(m.members) if m else 0
        rows.append([named[cid], *vals, weekly_people, as_int(m.new) if m else 0, members,
                     share(weekly_people, members), sum(vals)])
    rows.sort(key=lambda r: (-r[-1], r[0].lower()))
    return Table("communities", "Communities from the most to the least active", [
        Column("community", "Community", TEXT), Column("posts", "Posts"), Column("comments", "Comments"),
        Column("votes", "Votes"), Column("chats", "Chat messages"),
        Column("people", "Active people a week", NUM), Column("new", "New members"), Column("members", "Members"),
        Column("share", "Members active in a week", PCT),
        Column("activity", "Activity")], rows, Chart("hbar", ("activity",)),
        empty_message="No communities yet.")


def _growth(now: int, before: int, words: str) -> str:
    if not before:
        return ""
    change = (now - before) / before
    return f"{'+' if change >= 0 else '−'}{abs(change) * 100:.0f}% {words}"
