"""Privacy: "download my data" (a zip of JSON and files, built by a job) and closing an
account (by the person, with their password, or by an admin on request).

Exports hold only what the person authored or owns: profile, posts, comments, votes, likes,
chat messages, notifications, follows, saved searches, accepted guidelines, the people they
asked to answer, their uploads and avatar. The zip is written to a file, row by row and file
by file (memory stays flat however much there is), kept EXPORT_DAYS days, and served only to
the person (or the admin who asked).

Closing an account, at once and in one transaction: the account is disabled (it can never
sign in again) and every session ends; personal data is erased (name "Former member", email
and handle replaced, profile and avatar cleared, memberships, follows, notifications, saved
searches, second factor and exports dropped); the person's posts, comments and chat messages
are soft-deleted ("remove") or kept without an author ("anonymise"), as the site setting
`content_on_delete` allows ("choice": the person chooses). Closing is never refused for being a
community's only manager (leaving is): the close form names those communities, and the social
team is notified that each one needs a new manager (kind "community_manager").
"""
from __future__ import annotations

import json
import secrets
import zipfile
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import aliased
from werkzeug.security import check_password_hash, generate_password_hash

from app import clock, events
from app.errors import Gone, NotFound, ValidationError
from app.extensions import db
from app.models import (
    AccountClosure,
    AnswerRequest,
    Attachment,
    ChatMessage,
    Comment,
    CommentLike,
    Community,
    DataExport,
    Follow,
    GuidelineAcceptance,
    MemberRole,
    Membership,
    Notification,
    NotificationSetting,
    Post,
    PostRead,
    RecoveryCode,
    SavedSearch,
    TotpSecret,
    User,
    Vote,
)
from app.services import access, notifications
from app.services.people import accounts
from app.services.platform import audit, jobs, settings, storage

EXPORT_DAYS = 7
MODES = ("remove", "anonymise")
MODE_LABELS = {"remove": "Remove my posts, comments and messages",
               "anonymise": "Keep them, without my name (\"Former member\")"}
FORMER_NAME = "Former member"


# --- exports ------------------------------------------------------------------------------

def request_export(actor, user: User | None = None) -> DataExport:
    """Queue a zip of everything `user` (default: the actor) authored or owns. Admins may ask
    for anyone's; others only for their own (Forbidden). Returns the queued export."""
    user = user or actor
    if user.id != actor.id:
        access.require_admin(actor)
    export = DataExport(user_id=user.id, requested_by_id=actor.id, status="queued", created_at=clock.utcnow())
    db.session.add(export)
    db.session.flush()
    jobs.enqueue("privacy.export", {"export_id": export.id})
    if user.id != actor.id:
        _audit(actor, "privacy.export_requested", user, after={"export_id": export.id})
    db.session.commit()
    return export


def exports_of(actor, user: User | None = None) -> list[DataExport]:
    """The person's exports, newest first (admins may list anyone's)."""
    user = user or actor
    if user.id != actor.id:
        access.require_admin(actor)
    return list(db.session.scalars(select(DataExport).where(DataExport.user_id == user.id)
                                   .order_by(DataExport.id.desc()).limit(20)))


def export_for(actor, export_id: int) -> tuple[DataExport, str]:
    """A ready export and the path of its zip, for its owner or the admin who asked for it.
    Raises NotFound (anyone else, or not ready), Gone (expired)."""
    export = db.session.get(DataExport, export_id)
    if export is None or actor is None or not getattr(actor, "is_authenticated", False):
        raise NotFound("No such export.")
    if not access.may_download_export(actor, export):
        raise NotFound("No such export.")
    if export.status != "ready" or not export.key:
        raise NotFound("This export is not ready yet.")
    if expired(export):
        raise Gone("This export has expired. Ask for a new one.")
    return export, str(storage.path_for(export.key))


def expired(export: DataExport) -> bool:
    """Whether the export is older than EXPORT_DAYS (no longer served). Raises nothing."""
    return export.created_at < clock.utcnow() - timedelta(days=EXPORT_DAYS)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() + "Z" if moment else None


def _write_rows(zf: zipfile.ZipFile, name: str, stmt, row_fn) -> int:
    """Write one JSON array, a row at a time (the rows are streamed from the database)."""
    count = 0
    with zf.open(name, "w") as fh:
        fh.write(b"[")
        for row in db.session.execute(stmt.execution_options(yield_per=500)).scalars():
            fh.write((b",\n" if count else b"\n") + json.dumps(row_fn(row), ensure_ascii=False).encode())
            count += 1
        fh.write(b"\n]\n")
    return count


def _add_file(zf: zipfile.ZipFile, key: str | None, folder: str) -> str | None:
    if not key:
        return None
    try:
        path = storage.path_for(key)
    except ValueError:
        return None
    if not path.is_file():
        return None
    arcname = f"{folder}/{key.replace('/', '_')}"
    zf.write(path, arcname)  # zipfile copies the file in chunks
    return arcname


def _profile(user: User) -> dict:
    return {
        "id": user.id, "email": user.email, "display_name": user.display_name, "handle": user.handle,
        "kind": user.kind.value, "job_title": user.job_title, "organisation": user.organisation,
        "department": user.department.name if user.department else None, "bio": user.bio,
        "languages": user.language_list, "expertise": [t.name for t in user.expertise],
        "is_admin": user.is_admin, "is_social_team": user.is_global_manager,
        "created_at": _iso(user.created_at), "last_login_at": _iso(user.last_login_at),
        "email_verified_at": _iso(user.email_verified_at),
    }


def build_export(export_id: int) -> DataExport:
    """Write the zip of an export (the job's work). Returns the export, now ready."""
    export = db.session.get(DataExport, export_id)
    if export is None:
        raise NotFound("No such export.")
    user = db.session.get(User, export.user_id)
    key = f"exports/{secrets.token_hex(16)}.zip"
    path = storage.path_for(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    uid = user.id
    counts: dict[str, int] = {}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        avatar = _add_file(zf, user.avatar_key, "avatar")
        profile = _profile(user) | {"avatar_file": avatar}
        zf.writestr("profile.json", json.dumps(profile, ensure_ascii=False, indent=2))
        counts["posts"] = _write_rows(zf, "posts.json", select(Post).where(Post.author_id == uid).order_by(Post.id),
                                      lambda p: {"id": p.id, "community_id": p.community_id, "kind": p.kind.value,
                                                 "title": p.title, "body": p.body,
                                                 "status": p.status.value if p.status else None,
                                                 "created_at": _iso(p.created_at), "edited_at": _iso(p.edited_at),
                                                 "deleted_at": _iso(p.deleted_at)})
        counts["comments"] = _write_rows(zf, "comments.json",
                                         select(Comment).where(Comment.author_id == uid).order_by(Comment.id),
                                         lambda c: {"id": c.id, "post_id": c.post_id, "parent_id": c.parent_id,
                                                    "body": c.body, "created_at": _iso(c.created_at),
                                                    "edited_at": _iso(c.edited_at), "deleted_at": _iso(c.deleted_at)})
        counts["votes"] = _write_rows(zf, "votes.json", select(Vote).where(Vote.user_id == uid),
                                      lambda v: {"post_id": v.post_id, "created_at": _iso(v.created_at)})
        counts["comment_likes"] = _write_rows(zf, "comment_likes.json",
                                              select(CommentLike).where(CommentLike.user_id == uid),
                                              lambda v: {"comment_id": v.comment_id, "created_at": _iso(v.created_at)})
        counts["chat_messages"] = _write_rows(
            zf, "chat_messages.json", select(ChatMessage).where(ChatMessage.author_id == uid).order_by(ChatMessage.id),
            lambda m: {"id": m.id, "community_id": m.community_id, "parent_id": m.parent_id, "body": m.body,
                       "created_at": _iso(m.created_at), "edited_at": _iso(m.edited_at),
                       "deleted_at": _iso(m.deleted_at)})
        counts["notifications"] = _write_rows(
            zf, "notifications.json", select(Notification).where(Notification.user_id == uid).order_by(Notification.id),
            lambda n: {"id": n.id, "kind": n.kind, "text": n.text, "post_id": n.post_id,
                       "comment_id": n.comment_id, "created_at": _iso(n.created_at), "read_at": _iso(n.read_at)})
        counts["follows"] = _write_rows(zf, "follows.json", select(Follow).where(Follow.user_id == uid),
                                        lambda f: {"target_type": f.target_type, "target_id": f.target_id,
                                                   "created_at": _iso(f.created_at)})
        counts["memberships"] = _write_rows(zf, "memberships.json", select(Membership).where(Membership.user_id == uid),
                                            lambda m: {"community_id": m.community_id,
                                                       "role": getattr(m.role, "value", m.role)})
        counts["saved_searches"] = _write_rows(zf, "saved_searches.json",
                                               select(SavedSearch).where(SavedSearch.user_id == uid),
                                               lambda s: {c.name: _plain(getattr(s, c.key))
                                                          for c in SavedSearch.__table__.columns})
        counts["guideline_acceptances"] = _write_rows(
            zf, "guideline_acceptances.json", select(GuidelineAcceptance).where(GuidelineAcceptance.user_id == uid),
            lambda a: {"community_id": a.community_id, "version_id": a.version_id, "accepted_at": _iso(a.accepted_at)})
        counts["asks"] = _write_rows(  # the people they asked to answer a post
            zf, "asks.json", select(AnswerRequest).where(AnswerRequest.asker_id == uid).order_by(AnswerRequest.id),
            lambda a: {"post_id": a.post_id, "person_id": a.person_id, "created_at": _iso(a.created_at)})
        files = []
        for att in db.session.scalars(select(Attachment).where(Attachment.uploader_id == uid)
                                      .order_by(Attachment.id).execution_options(yield_per=200)):
            files.append({"id": att.id, "post_id": att.post_id, "comment_id": att.comment_id, "media": att.media,
                          "original_name": att.original_name, "content_type": att.content_type,
                          "created_at": _iso(att.created_at), "file": _add_file(zf, att.key, "uploads")})
        counts["uploads"] = len(files)
        zf.writestr("uploads.json", json.dumps(files, ensure_ascii=False, indent=2))
        zf.writestr("README.txt", "Your data from Kring, as JSON files (UTF-8) and the files you uploaded.\n"
                                  f"Made {_iso(clock.utcnow())}. Counts: {json.dumps(counts)}\n")
    export.key, export.status = key, "ready"
    export.size = path.stat().st_size
    export.finished_at = clock.utcnow()
    db.session.commit()
    return export


def _plain(value):
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, (str, int, float, bool, list, dict)) or value is None:
        return value
    return str(value)


@jobs.handler("privacy.export")
def _export_job(payload: dict) -> None:
    build_export(int(payload["export_id"]))


@jobs.periodic("privacy.purge_exports", every=timedelta(hours=6))
def _purge_exports(_payload: dict) -> None:
    """Delete the zips of exports older than EXPORT_DAYS."""
    cutoff = clock.utcnow() - timedelta(days=EXPORT_DAYS)
    old = list(db.session.scalars(select(DataExport).where(DataExport.created_at < cutoff)))
    keys = [e.key for e in old if e.key]
    for export in old:
        db.session.delete(export)
    for key in keys:
        events.on_commit(lambda key=key: storage.delete(key))
    db.session.commit()


# --- closing an account -------------------------------------------------------------------

def allowed_modes() -> tuple[str, ...]:
    """What the site setting allows for a closed account's content."""
    setting = settings.get("content_on_delete")
    return (setting,) if setting in MODES else MODES


def is_closed(user: User) -> bool:
    """Whether the person's account was closed. Raises nothing."""
    return db.session.scalar(select(AccountClosure.id).where(AccountClosure.user_id == user.id)) is not None


def sole_managed(user: User) -> list[Community]:
    """The communities `user` is the only manager of, by name (one query)."""
    other = aliased(Membership)
    others = (select(func.count()).select_from(other)
              .where(other.community_id == Membership.community_id, other.role == MemberRole.MANAGER,
                     other.user_id != user.id).correlate(Membership).scalar_subquery())
    return list(db.session.scalars(
        select(Community).join(Membership, Membership.community_id == Community.id)
        .where(Membership.user_id == user.id, Membership.role == MemberRole.MANAGER, others == 0)
        .order_by(Community.name)))


def close_account(actor, user: User, mode: str, *, password: str | None = None, reason: str = "",
                  ip: str | None = None) -> AccountClosure:
    """Close `user`'s account now. The person confirms with their password; an admin closing
    someone else's account (on their request) gives a reason instead. Raises Forbidden,
    ValidationError (password, mode, reason, already closed). Sessions and sockets end after
    the commit."""
    own = actor.id == user.id
    errors: dict[str, str] = {}
    if own:
        if not check_password_hash(user.password_hash, password or ""):
            errors["password"] = "This is not your password."
    else:
        access.require_admin(actor)
        reason = " ".join((reason or "").split())
        if not reason:
            errors["reason"] = "Say on whose request and why (it goes into the audit log)."
    if mode not in allowed_modes():
        errors["mode"] = "Choose what happens to the posts, comments and messages."
    if is_closed(user):
        errors = {"_": "This account is already closed."}
    if errors:
        raise ValidationError(errors)
    now = clock.utcnow()
    before = {"display_name": user.display_name, "handle": user.handle, "kind": user.kind.value}
    old_files = [user.avatar_key] + [e.key for e in db.session.scalars(
        select(DataExport).where(DataExport.user_id == user.id))]
    uid = user.id
    orphaned = sole_managed(user)

    # the content
    if mode == "remove":
        for model in (Post, Comment, ChatMessage):
            values = {"deleted_at": now, "deleted_by_id": uid}
            if model is ChatMessage:
                values["changed_at"] = now
            db.session.execute(update(model).where(model.author_id == uid, model.deleted_at.is_(None))
                               .values(**values))
    else:
        for model in (Post, Comment, ChatMessage):
            db.session.execute(update(model).where(model.author_id == uid).values(author_id=None))
        db.session.execute(update(Attachment).where(Attachment.uploader_id == uid).values(uploader_id=None))

    # the person's own records
    for model in (Follow, Notification, NotificationSetting, SavedSearch, PostRead, TotpSecret, RecoveryCode,
                  GuidelineAcceptance, Membership, DataExport):
        db.session.execute(delete(model).where(model.user_id == uid))
    db.session.execute(delete(AnswerRequest).where(AnswerRequest.person_id == uid))  # nobody waits on them

    # the account itself: disabled and erased
    user.display_name = FORMER_NAME
    user.email = f"closed-{uid}-{secrets.token_hex(4)}@closed.invalid"
    user.handle = f"former.member.{uid}"
    user.password_hash = generate_password_hash(secrets.token_urlsafe(32))
    user.job_title = user.organisation = user.bio = user.languages = user.avatar_key = None
    user.department = None
    user.expertise = []
    user.is_admin = user.is_global_manager = user.is_management = False
    user.suspended_until = accounts.FOREVER
    user.suspension_reason = "Account closed"
    user.session_version += 1
    closure = AccountClosure(user_id=uid, actor_id=actor.id, mode=mode, reason=reason[:500] or None,
                             closed_at=now)
    db.session.add(closure)
    after = {"mode": mode, "by_self": own}
    if orphaned:
        after["communities_without_manager"] = [c.id for c in orphaned]
    _audit(actor, "account.closed", user, before=before, after=after, reason=reason or None, ip=ip)
    _ask_team_for_managers(orphaned, exclude={uid})
    events.user_sessions_ended(uid)
    for key in old_files:
        events.on_commit(lambda key=key: storage.delete(key))  # the files go once the closure is stored
    db.session.commit()
    return closure


def _ask_team_for_managers(communities: list[Community], *, exclude: set[int]) -> None:
    """Tell the social team that each community lost its last manager with this account (not
    naming the person: their name is being erased; the audit entry says who it was)."""
    if not communities:
        return

    team = list(db.session.scalars(select(User.id).where(User.is_global_manager.is_(True))))
    for community in communities:
        notifications.create(
            "community_manager", team, actor_id=None, community=community, exclude=exclude,
            text=f"{community.name} has no manager any more: its only manager closed their account. Appoint one.")


def _audit(actor, action: str, user: User, *, before: dict | None = None, after: dict | None = None,
           reason: str | None = None, ip: str | None = None) -> None:
    audit.record(actor, action, "user", user.id, before=before, after=after, reason=reason, ip=ip)
