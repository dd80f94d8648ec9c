"""What the admin area reads: site counts, the list of accounts, parked background jobs.

Every function here is for administrators only (access.require_admin raises Forbidden).
Changes go through the services that own them: accounts (roles, suspension), departments,
settings and jobs.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, or_, select

from app import clock, inputs
from app.extensions import db
from app.models import Community, Department, Job, JobStatus, User, UserKind
from app.services import access
from app.services.platform import jobs

PER_PAGE = 30
ACCOUNT_STATUSES = {"active", "suspended", "unverified"}


@dataclass(frozen=True)
class Overview:
    people: int
    by_kind: dict[str, int]
    suspended: int
    unverified: int
    admins: int
    communities: int
    departments: int
    jobs: dict[str, int] = field(default_factory=dict)


def job_counts(actor) -> dict[str, int]:
    """Number of jobs per status (every status present, 0 when none)."""
    access.require_admin(actor)
    counts = {s.value: 0 for s in JobStatus}
    for status, n in db.session.execute(select(Job.status, func.count()).group_by(Job.status)):
        counts[JobStatus(status).value] = n
    return counts


def overview(actor) -> Overview:
    """Counts for the admin start page."""
    access.require_admin(actor)
    now = clock.utcnow()
    by_kind = {k.value: 0 for k in UserKind}
    for kind, n in db.session.execute(select(User.kind, func.count()).group_by(User.kind)):
        by_kind[UserKind(kind).value] = n

    def count(*where) -> int:
        return db.session.scalar(select(func.count()).select_from(User).where(*where)) or 0

    return Overview(
        people=sum(by_kind.values()),
        by_kind=by_kind,
        suspended=count(User.suspended_until > now),
        unverified=count(User.email_verified_at.is_(None)),
        admins=count(User.is_admin.is_(True)),
        communities=db.session.scalar(select(func.count()).select_from(Community)) or 0,
        departments=db.session.scalar(select(func.count()).select_from(Department)) or 0,
        jobs=job_counts(actor),
    )


def accounts_page(actor, *, q: str | None = None, kind: str | None = None,
                  status: str | None = None, page: int = 1,
                  per_page: int = PER_PAGE) -> tuple[list[User], int]:
    """A page of accounts by name, searchable by name, email or handle, filtered by kind and
    status ("active", "suspended", "unverified"); and the total. Unknown filters match nobody."""
    access.require_admin(actor)
    stmt = select(User)
    if q and q.strip():
        text = " ".join(q.split())[:120]
        like = inputs.contains_pattern(text)
        stmt = stmt.where(or_(User.display_name.ilike(like, escape="\\"),
                              User.email.ilike(like, escape="\\"),
                              User.handle.ilike(like, escape="\\")))
    if kind:
        if kind not in {k.value for k in UserKind}:
            return [], 0
        stmt = stmt.where(User.kind == UserKind(kind))
    if status:
        now = clock.utcnow()
        if status == "suspended":
            stmt = stmt.where(User.suspended_until > now)
        elif status == "active":
            stmt = stmt.where(or_(User.suspended_until.is_(None), User.suspended_until <= now),
                              User.email_verified_at.is_not(None))
        elif status == "unverified":
            stmt = stmt.where(User.email_verified_at.is_(None))
        else:
            return [], 0
    total = db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = db.session.scalars(stmt.order_by(func.lower(User.display_name), User.id)
                              .limit(per_page).offset((max(page, 1) - 1) * per_page)).all()
    return list(rows), total


def parked_jobs(actor, *, page: int = 1, per_page: int = PER_PAGE) -> tuple[list[Job], int]:
    """A page of parked (FAILED) jobs, newest first; and their total."""
    access.require_admin(actor)
    base = select(Job).where(Job.status == JobStatus.FAILED)
    total = db.session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = db.session.scalars(base.order_by(Job.finished_at.desc(), Job.id.desc())
                              .limit(per_page).offset((max(page, 1) - 1) * per_page)).all()
    return list(rows), total


def retry_job(actor, job_id: int) -> Job:
    """Queue a parked job again (admins only). Raises Forbidden, NotFound, ValidationError."""
    access.require_admin(actor)
    return jobs.retry(job_id)
