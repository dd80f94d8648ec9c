"""Ideas: one vote per person (a toggle), the voters list for staff, and the status workflow
with official responses, including merging a duplicate into another idea.

The workflow (enforced by `change_status`, offered by `panel().next_statuses`):

    new -> under review -> planned -> in progress -> done
    any open status (new, under review, planned, in progress) may also go to any *later* open
    status, to done, to declined, or to duplicate (merged into another idea);
    done and declined may be re-opened: back to under review;
    duplicate is final (its votes and followers moved to the other idea).

Every change carries an official response (markdown) shown prominently on the idea, records
when the idea first got one, and notifies its voters and followers.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from app import clock, events, inputs
from app.errors import Forbidden, ValidationError
from app.extensions import db
from app.models import Department, IdeaStatus, Post, PostKind, StatusChange, User, UserKind, Vote
from app.services import access, notifications
from app.services.community import follows
from app.services.content import fanout, posts
from app.services.platform import audit, jobs, markup
from app.wording import plural

RESPONSE_MAX = 5_000
VOTERS_PER_PAGE = 50

OPEN = (IdeaStatus.NEW, IdeaStatus.UNDER_REVIEW, IdeaStatus.PLANNED, IdeaStatus.IN_PROGRESS)
CLOSED = (IdeaStatus.DONE, IdeaStatus.DECLINED)


def next_statuses(current: IdeaStatus | None) -> list[IdeaStatus]:
    """The statuses an idea in `current` may move to (see the module docstring)."""
    current = current or IdeaStatus.NEW
    if current in OPEN:
        later = list(OPEN[OPEN.index(current) + 1:])
        return later + [IdeaStatus.DONE, IdeaStatus.DECLINED, IdeaStatus.DUPLICATE]
    if current in CLOSED:
        return [IdeaStatus.UNDER_REVIEW]
    return []  # duplicate: final


def vote_block_reason(post: Post) -> str | None:
    """Why nobody may vote on (or take back a vote from) this post now, or None."""
    if post.kind != PostKind.IDEA:
        return f"Only ideas take votes; this is a {post.kind.value}."
    if post.deleted_at is not None:
        return "This idea was deleted: voting is closed."
    if post.status == IdeaStatus.DUPLICATE:
        return "This idea was merged into another one: vote there."
    if post.status == IdeaStatus.DONE:
        return "Voting is closed: this idea is done."
    if post.status == IdeaStatus.DECLINED:
        return "Voting is closed: this idea was declined."
    return None


# --- votes --------------------------------------------------------------------------------

def _recount(post: Post) -> None:
    """Reload the counters changed by UPDATE statements and refresh the hot score."""
    db.session.refresh(post, ["vote_count", "comment_count"])
    posts.refresh_hot(post)


def toggle_vote(user, post_id: int) -> tuple[bool, int]:
    """Vote for an idea, or take the vote back. Returns (voted now, vote count).

    Anyone who may read the idea may vote, its author included. Raises NotFound (no such post
    or not readable), ValidationError (not an idea; deleted, merged, done or declined idea).
    Two clicks racing each other count once: the votes table's primary key refuses the second
    row, and the counter moves only when a row really was added or removed."""
    post = access.post_for(user, post_id, "read").post
    reason = vote_block_reason(post)
    if reason:
        raise ValidationError({"vote": reason})
    counter = update(Post).where(Post.id == post.id).execution_options(synchronize_session=False)
    existing = db.session.scalar(select(Vote.user_id).where(Vote.post_id == post.id, Vote.user_id == user.id))
    if existing is not None:
        removed = db.session.execute(delete(Vote).where(Vote.post_id == post.id, Vote.user_id == user.id)
                                     .execution_options(synchronize_session=False)).rowcount
        if removed:
            db.session.execute(counter.values(vote_count=Post.vote_count - 1))
        voted = False
    else:
        try:
            with db.session.begin_nested():
                db.session.add(Vote(post_id=post.id, user_id=user.id, created_at=clock.utcnow()))
        except IntegrityError:
            pass  # the same person's other click won the race: the vote exists once
        else:
            db.session.execute(counter.values(vote_count=Post.vote_count + 1))
        voted = True
    _recount(post)
    events.idea_voted(post, user.id, voted)
    db.session.commit()
    return voted, post.vote_count


@dataclass
class Voter:
    user: User | None  # None: someone the viewer may not see in the directory
    voted_at: datetime


@dataclass
class VoteSegments:
    """Who an idea's votes come from, as counts: by kind of member, and (for employees of the
    organisation, who weigh customer demand) by customer or partner organisation and by
    department."""

    total: int = 0
    by_kind: list[tuple[str, int]] = field(default_factory=list)  # ("customer", 7), ... in a fixed order, no zeros
    organisations: list[tuple[str, int]] = field(default_factory=list)  # most votes first
    departments: list[tuple[str, int]] = field(default_factory=list)  # most votes first
    detailed: bool = False  # organisations and departments were counted for this viewer

    @property
    def kinds_text(self) -> str:
        """"7 customers, 1 partner, 3 employees"."""
        return ", ".join(f"{n} {SEGMENT_LABELS[k][0 if n == 1 else 1]}" for k, n in self.by_kind)

    @property
    def organisations_text(self) -> str:
        """"from 4 organisations: Camp Co (3), Trail Ltd (2), Hikers (1) and 1 more" ("" when
        not counted, or no customer or partner voted)."""
        if not self.organisations:
            return ""
        named = [(name, n) for name, n in self.organisations if name != NO_ORGANISATION]
        top = ", ".join(f"{name} ({n})" for name, n in named[:3])
        more = len(named) - 3
        count = len(named)
        text = f"from {plural(count, 'organisation')}" + (f": {top}" if top else "")
        return text + (f" and {more} more" if more > 0 else "")


SEGMENT_LABELS = {"customer": ("customer", "customers"), "partner": ("partner", "partners"),
                  "employee": ("employee", "employees")}
NO_ORGANISATION = "No organisation given"
NO_DEPARTMENT = "No department"


def vote_segments(viewer, post: Post) -> VoteSegments:
    """The idea's votes by segment, in one query. Organisations and departments only for
    employees (and staff); others get the counts by kind."""
    rows = db.session.execute(
        select(User.kind, User.organisation, Department.name, func.count())
        .select_from(Vote).join(User, User.id == Vote.user_id)
        .outerjoin(Department, Department.id == User.department_id)
        .where(Vote.post_id == post.id)
        .group_by(User.kind, User.organisation, Department.name)).all()
    kinds: dict[str, int] = {}
    orgs: dict[str, int] = {}
    depts: dict[str, int] = {}
    for kind, organisation, department, n in rows:
        kind = getattr(kind, "value", kind)
        kinds[kind] = kinds.get(kind, 0) + n
        if kind == UserKind.EMPLOYEE.value:
            name = department or NO_DEPARTMENT
            depts[name] = depts.get(name, 0) + n
        else:
            name = (organisation or "").strip() or NO_ORGANISATION
            orgs[name] = orgs.get(name, 0) + n
    detailed = access.may_see_vote_details(viewer)

    def ranked(counts: dict[str, int]) -> list[tuple[str, int]]:  # most votes first, the unnamed last
        unnamed = (NO_ORGANISATION, NO_DEPARTMENT)
        return sorted(counts.items(), key=lambda kv: (kv[0] in unnamed, -kv[1], kv[0].lower())) if detailed else []

    return VoteSegments(total=sum(kinds.values()),
                        by_kind=[(k, kinds[k]) for k in ("customer", "partner", "employee") if kinds.get(k)],
                        organisations=ranked(orgs), departments=ranked(depts), detailed=detailed)


@dataclass
class VoterPage:
    pacc: access.PostAccess
    voters: list[Voter]
    total: int
    page: int
    per_page: int
    segments: VoteSegments = field(default_factory=VoteSegments)


def voters(actor, post_id: int, *, page: int = 1, per_page: int = VOTERS_PER_PAGE) -> VoterPage:
    """Who voted for an idea, newest first, a page at a time: for the community's moderators
    and the people who respond officially. People the actor may not see in the directory
    (an external moderator, a voter outside their communities) are listed without a name.
    Raises NotFound, Forbidden, ValidationError (not an idea)."""
    pacc = access.post_for(actor, post_id, "read")
    if not pacc.can_see_voters:
        raise Forbidden("Only the community's moderators and managers can see who voted.")
    if pacc.post.kind != PostKind.IDEA:
        raise ValidationError({"vote": "Only ideas have voters."})
    page = max(1, page)
    total = db.session.scalar(select(func.count()).select_from(Vote).where(Vote.post_id == post_id)) or 0
    rows = list(db.session.scalars(
        select(Vote).options(joinedload(Vote.user)).where(Vote.post_id == post_id)
        .order_by(Vote.created_at.desc(), Vote.user_id.desc()).offset((page - 1) * per_page).limit(per_page)))
    ids = [r.user_id for r in rows]
    visible = set(db.session.scalars(select(User.id).where(User.id.in_(ids), access.people_clause(actor)))) if ids else set()
    return VoterPage(pacc, [Voter(r.user if r.user_id in visible else None, r.created_at) for r in rows],
                     total, page, per_page, vote_segments(actor, pacc.post))


# --- status -------------------------------------------------------------------------------

_REF = re.compile(r"^(?:#?(\d+)|(?:https?://[^/\s]+)?/p/(\d+)(?:[/?#].*)?)$")


def parse_post_ref(text) -> int | None:
    """A post number from "123", "#123", "/p/123" or a full address ending in /p/123."""
    if isinstance(text, int) or not isinstance(text, str):
        return inputs.id_or_none(text)
    match = _REF.match(text.strip())
    return inputs.id_or_none(match.group(1) or match.group(2)) if match else None


def _clean_response(response: str | None) -> tuple[str, str | None]:
    response = (response or "").replace("\r\n", "\n").strip()
    if not response:
        return response, "Write the official response: everyone who voted or follows will read it."
    return response, markup.source_problem(response, RESPONSE_MAX)


def _duplicate_target(actor, pacc: access.PostAccess, ref) -> tuple[Post | None, str | None]:
    """The live idea `ref` points to, which the duplicate may be merged into, or an error."""
    if ref is None or (isinstance(ref, str) and not ref.strip()):
        return None, "Give the number or address of the idea this one duplicates (e.g. 42 or /p/42)."
    target_id = parse_post_ref(ref)
    if target_id is None:
        return None, "Give the idea's number or its address, e.g. 42 or /p/42."
    post = pacc.post
    if target_id == post.id:
        return None, "An idea cannot duplicate itself: give the number of the other idea."
    target = db.session.get(Post, target_id)
    if target is None or target.deleted_at is not None or target.community_id != post.community_id:
        return None, (f"There is no idea #{target_id} in {pacc.community.community.name}. Ideas are merged "
                      "only within the same community.")
    if target.kind != PostKind.IDEA:
        return None, f"#{target_id} is a {target.kind.value}, not an idea: only ideas can be merged."
    if target.status == IdeaStatus.DUPLICATE:
        return None, (f"#{target_id} was itself merged into #{target.duplicate_of_id}: "
                      f"merge into #{target.duplicate_of_id} instead.")
    if not access.post_access(actor, target, pacc.community).can_respond:
        return None, f"You cannot respond officially on #{target_id}, so you cannot merge into it."
    return target, None


def _merge(post: Post, target: Post) -> None:
    """Move the duplicate's votes (not for people who already voted for the target) and
    followers to the target; recount both ideas. In the caller's transaction."""
    already = select(Vote.user_id).where(Vote.post_id == target.id)
    db.session.execute(update(Vote).where(Vote.post_id == post.id, Vote.user_id.not_in(already))
                       .values(post_id=target.id).execution_options(synchronize_session=False))
    db.session.execute(delete(Vote).where(Vote.post_id == post.id).execution_options(synchronize_session=False))
    for idea in (post, target):
        count = select(func.count()).select_from(Vote).where(Vote.post_id == idea.id).scalar_subquery()
        db.session.execute(update(Post).where(Post.id == idea.id).values(vote_count=count)
                           .execution_options(synchronize_session=False))
        _recount(idea)
    follows.move("post", post.id, target.id)


def _snippet(text: str, size: int = 120) -> str:
    plain = " ".join(markup.to_text(text).split())
    return plain if len(plain) <= size else plain[:size - 1].rstrip() + "…"


def change_status(actor, post_id: int, status: str, response: str, duplicate_of_id=None, *,
                  ip: str | None = None) -> StatusChange:
    """Move an idea to `status` with an official `response` (markdown, 1 to 5,000 characters).

    Allowed moves are in the module docstring. For "duplicate", `duplicate_of_id` (a number,
    "#42", "/p/42" or a full address) names another live idea of the same community that the
    actor may respond on, and not itself a duplicate; the votes (without double counting)
    and followers move there and this idea's page redirects to it.

    Records the change, sets the idea's status and, the first time, when it first got an
    official response; notifies voters and followers (who may still read it) after the commit.
    Raises NotFound, Forbidden (not a community manager or the topic's expert),
    ValidationError (status, response, duplicate_of)."""
    pacc = access.post_for(actor, post_id, "respond")
    post = pacc.post
    if post.kind != PostKind.IDEA:
        raise ValidationError({"status": f"Only ideas have a status; this is a {post.kind.value}."})
    errors: dict[str, str] = {}
    current = post.status or IdeaStatus.NEW
    try:
        new = IdeaStatus(status)
    except ValueError:
        new = None
        errors["status"] = "Choose a status from the list."
    if new is not None and new not in next_statuses(current):
        if current == IdeaStatus.DUPLICATE:
            errors["status"] = (f"This idea was merged into #{post.duplicate_of_id}; its votes moved there, "
                                "so change the status of that idea instead.")
        elif new == current:
            errors["status"] = f"The idea is already “{current.label}”: choose another status."
        else:
            allowed = ", ".join(f"“{s.label}”" for s in next_statuses(current))
            errors["status"] = f"An idea that is “{current.label}” can move to {allowed}; not back to “{new.label}”."
    response, problem = _clean_response(response)
    if problem:
        errors["response"] = problem
    target = None
    if new == IdeaStatus.DUPLICATE and "status" not in errors:
        target, problem = _duplicate_target(actor, pacc, duplicate_of_id)
        if problem:
            errors["duplicate_of"] = problem
    if errors:
        raise ValidationError(errors)

    now = clock.utcnow()
    change = StatusChange(post_id=post.id, from_status=current, to_status=new, response=response,
                          response_html=markup.to_html(response), actor_id=actor.id,
                          duplicate_of_id=target.id if target else None, created_at=now)
    db.session.add(change)
    post.status = new
    if post.first_official_response_at is None:
        post.first_official_response_at = now
    posts.touch(post, now)
    posts.keep_seen(actor, post.id, now)
    text = f"{new.label}: {post.title} — {_snippet(response)}"
    if target is not None:
        # the audience is taken before the merge moves the votes and followers away
        audience = set(db.session.scalars(select(Vote.user_id).where(Vote.post_id == post.id)))
        audience |= set(db.session.scalars(follows.followers("post", post.id)))
        post.duplicate_of_id = target.id
        _merge(post, target)
        posts.touch(target, now)
        text = f"{new.label}: {post.title} — merged into “{target.title}”. {_snippet(response)}"
        jobs.enqueue("ideas.notify_merge", {"post_id": post.id, "actor_id": actor.id, "text": text[:300],
                                            "recipients": sorted(audience)})
    else:
        fanout.after_status_change(post, actor, text)
    events.idea_status_changed(post, change, actor)

    audit.record(actor, "idea.status_change", "post", post.id, ip=ip, reason=_snippet(response, 500),
                 before={"status": current}, after={"status": new, "duplicate_of": target.id if target else None})
    db.session.commit()
    return change


@jobs.handler("ideas.notify_merge")
def _notify_merge(payload: dict) -> None:
    """The merged idea's former voters and followers (listed when it was merged) hear of it."""
    post = db.session.get(Post, payload["post_id"])
    if post is None:
        return
    notifications.create("status", payload["recipients"], actor_id=payload["actor_id"], post=post,
                         text=payload["text"])


# --- the idea panel on the post page ------------------------------------------------------

@dataclass
class IdeaPanel:
    post: Post
    status: IdeaStatus
    vote_count: int
    voted: bool
    can_vote: bool
    vote_blocked: str | None  # why not, when can_vote is False
    latest: StatusChange | None  # the latest official response, with its actor loaded
    history: list[StatusChange] = field(default_factory=list)  # newest first
    can_respond: bool = False
    can_see_voters: bool = False
    next_statuses: list[IdeaStatus] = field(default_factory=list)
    duplicate_of: Post | None = None
    segments: VoteSegments | None = None  # for the people who may see the voters

    @property
    def status_label(self) -> str:
        return self.status.label


def panel(viewer, pacc: access.PostAccess) -> IdeaPanel | None:
    """What the idea box on the post page shows, in at most four queries (the viewer's vote,
    the history with its actors, the idea it was merged into, and for the people who may see
    the voters the votes by segment). None for other kinds of post."""
    post = pacc.post
    if post.kind != PostKind.IDEA:
        return None
    voted = db.session.scalar(select(Vote.user_id).where(Vote.post_id == post.id, Vote.user_id == viewer.id)) is not None
    history = list(db.session.scalars(
        select(StatusChange).options(joinedload(StatusChange.actor)).where(StatusChange.post_id == post.id)
        .order_by(StatusChange.created_at.desc(), StatusChange.id.desc())))
    duplicate_of = None
    if post.status == IdeaStatus.DUPLICATE and post.duplicate_of_id:
        duplicate_of = db.session.get(Post, post.duplicate_of_id)
    blocked = vote_block_reason(post)
    status = post.status or IdeaStatus.NEW
    return IdeaPanel(
        post=post, status=status, vote_count=post.vote_count, voted=voted, can_vote=blocked is None,
        vote_blocked=blocked, latest=history[0] if history else None, history=history,
        can_respond=pacc.can_respond, can_see_voters=pacc.can_see_voters,
        next_statuses=next_statuses(status) if pacc.can_respond else [], duplicate_of=duplicate_of,
        segments=vote_segments(viewer, post) if pacc.can_see_voters and post.vote_count else None)
