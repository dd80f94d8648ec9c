"""Who counts as a current expert of a topic (experts respond officially on its posts).

A *current expert* has an open assignment and is, now: not suspended; an employee, or a
partner when the community allows external experts (customers never); and someone who may
read the community (`base.person_reads_clause`). The assignment itself, routing and
escalation live in app.services.experts.experts.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, and_, exists, or_, select
from sqlalchemy.orm import aliased

from app import clock
from app.extensions import db
from app.models import Community, ExpertAssignment, Membership, Topic, User, UserKind, post_topics
from app.services.access.base import is_active_account, person_reads_clause

# Aliases for "current, eligible assignments" queries (current_select), so they never
# correlate with the plain User/Topic/Community/Membership tables of an enclosing query.
XA = aliased(ExpertAssignment, name="xa")
XU = aliased(User, name="xu")
XT = aliased(Topic, name="xt")
XC = aliased(Community, name="xc")
XM = aliased(Membership, name="xm")


def eligible_clause(now: datetime) -> ColumnElement[bool]:
    """A WHERE clause on the joined XA/XU/XC: an open assignment of someone who may be an
    expert in that community at `now` (see the module docstring). Raises nothing."""
    return and_(
        XA.removed_at.is_(None),
        or_(XU.suspended_until.is_(None), XU.suspended_until <= now),
        or_(XU.kind == UserKind.EMPLOYEE,
            and_(XU.kind == UserKind.PARTNER, XC.allow_external_experts.is_(True))),
        person_reads_clause(XU, XC, XM),
    )


def current_select(*columns):
    """A SELECT of `columns` FROM the current, eligible assignments (XA), joined with their
    topic (XT), community (XC) and expert (XU). Raises nothing."""
    return (select(*columns).select_from(XA)
            .join(XT, XT.id == XA.topic_id)
            .join(XC, XC.id == XT.community_id)
            .join(XU, XU.id == XA.user_id)
            .where(eligible_clause(clock.utcnow())))


def is_expert_for(user, post) -> bool:
    """Whether `user` is a current expert of one of the post's topics (one query; reading the
    community is checked by the caller). Raises nothing."""
    if not is_active_account(user):
        return False
    topics = select(post_topics.c.topic_id).where(post_topics.c.post_id == post.id)
    return bool(db.session.scalar(select(exists(
        current_select(XA.id).where(XA.user_id == user.id, XA.topic_id.in_(topics))))))
