"""Weekly rollups behind the management dashboards (app.services.insight).

Each table holds, per ISO week (`week`: whole weeks since Monday 1969-12-29, see
app.services.insight.sql), exactly what the dashboards would compute from the live tables for
that week when it was rolled up: the rollup job (`insight.rollup`) rewrites a week with one
INSERT ... SELECT of the same query the dashboards run on weeks that are not rolled up yet, so
both paths give the same figures (InsightPostWeek is summed from the week's InsightPost rows).
The current week is rewritten every few minutes, the recent weeks every hour and every week once
a day. Rows are derived data: they can be dropped and rebuilt at any time (`flask insight rollup
--all`).

Also here: the `created_at` indexes on the activity tables that the rollup and the live part of
the dashboards scan by time range (posts, comments, votes, chat messages).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.chat import ChatMessage
from app.models.posts import Comment, Post, Vote

RESPONSE_TARGET_HOURS = 48  # "responded within" counts use this target (the experts' default answer time)

# Range scans by time for the rollup and for the live (not yet rolled up) weeks.
Index("ix_posts_created_at", Post.created_at)
Index("ix_comments_created_at", Comment.created_at)
Index("ix_votes_created_at", Vote.created_at)
Index("ix_chat_messages_created_at", ChatMessage.created_at)


class InsightState(db.Model):
    """One row (id 1): up to which week the rollups are complete, and when they last ran."""

    __tablename__ = "insight_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    rolled_through: Mapped[int | None] = mapped_column(Integer)  # last week rolled up (None: none)
    rolled_at: Mapped[datetime | None] = mapped_column(DateTime)  # last run (the current week)
    recent_at: Mapped[datetime | None] = mapped_column(DateTime)  # last rewrite of the recent weeks
    full_at: Mapped[datetime | None] = mapped_column(DateTime)    # last rewrite of every week


class InsightActivity(db.Model):
    """What one person did in one community in one week: live posts, comments (on live
    posts), votes (on live posts) and chat messages."""

    __tablename__ = "insight_activity"
    __table_args__ = (Index("ix_insight_activity_community_week", "community_id", "week", "user_id"),)

    week: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    posts: Mapped[int] = mapped_column(Integer, default=0)
    comments: Mapped[int] = mapped_column(Integer, default=0)
    votes: Mapped[int] = mapped_column(Integer, default=0)
    chats: Mapped[int] = mapped_column(Integer, default=0)


class InsightPeople(db.Model):
    """InsightActivity summed over communities: what one person did in one week."""

    __tablename__ = "insight_people"

    week: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    posts: Mapped[int] = mapped_column(Integer, default=0)
    comments: Mapped[int] = mapped_column(Integer, default=0)
    votes: Mapped[int] = mapped_column(Integer, default=0)
    chats: Mapped[int] = mapped_column(Integer, default=0)


class InsightCommunity(db.Model):
    """InsightActivity summed over people: what happened in one community in one week, with
    how many people took part and how many of them wrote something."""

    __tablename__ = "insight_communities"

    week: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True)
    posts: Mapped[int] = mapped_column(Integer, default=0)
    comments: Mapped[int] = mapped_column(Integer, default=0)
    votes: Mapped[int] = mapped_column(Integer, default=0)
    chats: Mapped[int] = mapped_column(Integer, default=0)
    people: Mapped[int] = mapped_column(Integer, default=0)
    writers: Mapped[int] = mapped_column(Integer, default=0)


class InsightReplies(db.Model):
    """Comments written in a week by employees of one department (`from`) on a post or
    comment of an employee of another or the same department (`to`), per community. The
    departments are the people's departments when the week was rolled up."""

    __tablename__ = "insight_replies"
    __table_args__ = (Index("ix_insight_replies_community_week", "community_id", "week"),)

    week: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True)
    from_department_id: Mapped[int] = mapped_column(ForeignKey("departments.id", ondelete="CASCADE"),
                                                    primary_key=True)
    to_department_id: Mapped[int] = mapped_column(ForeignKey("departments.id", ondelete="CASCADE"),
                                                  primary_key=True)
    replies: Mapped[int] = mapped_column(Integer, default=0)


class InsightThreads(db.Model):
    """Threads (live posts with a live comment from someone other than the author) started in
    a week, and how many of them had people from two or more departments. `department_id` 0
    counts every thread; another value counts the threads that department took part in."""

    __tablename__ = "insight_threads"
    __table_args__ = (Index("ix_insight_threads_community_week", "community_id", "week"),)

    week: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True)
    department_id: Mapped[int] = mapped_column(Integer, primary_key=True)  # 0: all threads (no FK)
    threads: Mapped[int] = mapped_column(Integer, default=0)
    cross_threads: Mapped[int] = mapped_column(Integer, default=0)


class InsightPost(db.Model):
    """A live question or idea with its response facts, as of the last rollup of its week.

    official_at: an idea's first official response (status change), or a question's first
    comment by the community's staff (managers, moderators, admins, the social team) or by an
    expert of one of its topics at the time; never the author's own.
    expert_at: the first comment (or, for an idea, status change) by an expert of one of its
    topics at the time. expert_covered: one of its topics had an expert when it was posted."""

    __tablename__ = "insight_posts"
    __table_args__ = (Index("ix_insight_posts_week", "week", "community_id"),
                      Index("ix_insight_posts_community_week", "community_id", "week"),
                      Index("ix_insight_posts_author_kind_week", "author_kind", "week"))

    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True)
    week: Mapped[int] = mapped_column(Integer)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    author_kind: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    official_at: Mapped[datetime | None] = mapped_column(DateTime)
    expert_at: Mapped[datetime | None] = mapped_column(DateTime)
    official_secs: Mapped[int | None] = mapped_column(Integer)  # official_at - created_at
    expert_secs: Mapped[int | None] = mapped_column(Integer)    # expert_at - created_at
    expert_covered: Mapped[bool] = mapped_column(Boolean, default=False)
    accepted: Mapped[bool] = mapped_column(Boolean, default=False)
    # as of the rollup: the idea's status, votes and views, the furthest stage it reached
    # (0 new, 1 under review, 2 planned, 3 in progress, 4 done), whether it was ever declined,
    # and the seconds it spent in each stage it left (summed over its visits)
    status: Mapped[str | None] = mapped_column(String(20))
    votes: Mapped[int] = mapped_column(Integer, default=0)
    views: Mapped[int] = mapped_column(Integer, default=0)
    stage_reached: Mapped[int] = mapped_column(Integer, default=0)
    declined: Mapped[int] = mapped_column(Integer, default=0)
    secs_new: Mapped[int | None] = mapped_column(Integer)
    secs_review: Mapped[int | None] = mapped_column(Integer)
    secs_planned: Mapped[int | None] = mapped_column(Integer)
    secs_progress: Mapped[int | None] = mapped_column(Integer)


class InsightPostWeek(db.Model):
    """InsightPost counted per week, community, kind, author kind and status ('' for none):
    what most dashboard figures need, without reading every post. `within`: official responses
    within RESPONSE_TARGET_HOURS; `covered`: in a topic that had an expert; `covered_answered`:
    ... and answered by an expert; `reachedN`: ideas that reached stage N or further."""

    __tablename__ = "insight_post_weeks"
    __table_args__ = (Index("ix_insight_post_weeks_community_week", "community_id", "week"),)

    week: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    author_kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)
    responded: Mapped[int] = mapped_column(Integer, default=0)
    within: Mapped[int] = mapped_column(Integer, default=0)
    covered: Mapped[int] = mapped_column(Integer, default=0)
    covered_answered: Mapped[int] = mapped_column(Integer, default=0)
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    accepted_views: Mapped[int] = mapped_column(Integer, default=0)
    other_views: Mapped[int] = mapped_column(Integer, default=0)
    votes: Mapped[int] = mapped_column(Integer, default=0)
    reached1: Mapped[int] = mapped_column(Integer, default=0)
    reached2: Mapped[int] = mapped_column(Integer, default=0)
    reached3: Mapped[int] = mapped_column(Integer, default=0)
    reached4: Mapped[int] = mapped_column(Integer, default=0)
    declined: Mapped[int] = mapped_column(Integer, default=0)
