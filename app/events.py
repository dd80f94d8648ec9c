"""The one place that reacts to committed changes.

Services call `publish(event, payload, room)` inside their transaction (or one of the small
helpers below, which build the payload); the event is kept on the database session and
emitted only after that transaction commits (dropped on rollback), so nobody ever sees a live
update of something that was not stored. Emits go through Flask-SocketIO, which with REDIS_URL
publishes on the message queue: the CLI, jobs and the search indexer can emit to clients of
every server process. `signal()` sends ephemeral events (typing, presence) at once.

Rooms (the server puts sockets in them, after app.services.access allowed it):
  user:<id>        every socket of a person         session:<token>  one signed-in browser
  community:<id>   the community page and channel   post:<id>        the post page

Payloads are JSON-safe dicts of ids and display fields. HTML in them (body_html,
response_html) is what app.services.platform.markup rendered and sanitised; clients insert it as is
and everything else as text. `person` = {id, name, handle, kind, initial, avatar (path|null)}.

Event                    Room            Payload
session.ended            user:<id>       {user_id}
community.member_removed user:<id>       {community_id, user_id}
post.created             community:<id>  {room, post_id, community_id, kind, title, url, author: person}
comment.added            post:<id>       {room, post_id, comment_id, parent_id, comment_count}
comment.updated          post:<id>       {room, post_id, comment_id, parent_id, comment_count}  (edit, restore)
comment.removed          post:<id>       {room, post_id, comment_id, parent_id, comment_count}  (deleted or hidden)
comment.hidden           post:<id>       same as comment.removed (moderation hides, when it lands)
idea.voted               post:<id> and community:<id>
                                         {room, post_id, vote_count, voter_id, voted}; the post
                                         page then fetches its vote box (/live/p/<id>/idea): the
                                         voter breakdown is only for those who may see voters
answer.accepted          post:<id>       {room, post_id, comment_id|null, previous_id|null}
                                         (accepted, replaced or withdrawn; pages re-fetch both)
idea.status_changed      post:<id> and community:<id>
                                         {room, post_id, status, status_label, response_html,
                                          actor: person|null, created_at, duplicate_of_id}
expert.assigned          community:<id>  {room, community_id, topic_id, topic, expert: person}
notification.created     user:<id>       {unread, notification: {id, kind, text, created_at, open_url}}
notification.read        user:<id>       {unread}
chat.message             community:<id>  chat message (see below): a new message or reply
chat.updated             community:<id>  chat message: edited, deleted, hidden or restored by a moderator, new reply count, promoted
  chat message = {room, id, community_id, parent_id, key, author: person|null, body_html,
                  deleted, hidden, created_at, edited_at, reply_count, last_reply_at, promoted_post_id}
presence.joined          community:<id> / post:<id>  {room, user: person}  (their first socket there)
presence.left            community:<id> / post:<id>  {room, user_id}       (their last socket left)
typing                   community:<id> / post:<id>  {room, user: {id, name}, typing, thread}
live.batch               any room        {room, events: [[event, payload], ...]}: several of the
                                         events above for one room, committed at the same moment
                                         (a burst of chat messages), in order, in one frame; a
                                         client handles each as if it had come on its own
Sent to one socket only:
presence.state           {room, count, people: [person]}   after a room is entered on connect
room.refused             {room, error}                     a room named at connect was refused
replay.truncated         {room}                            more was missed than replay sends: reload
live.batch               {room: null, events}              what a connect or join replays, with the
                                         presence.state / room.refused above, in few frames (sent
                                         after the connect acknowledgement; app.live.handlers.frames)
Times are ISO 8601 UTC ending in "Z". Client events and their acks: app.live.handlers, app.live.chat.

Besides events, `on_commit(fn)` queues any reaction (ending a person's live sockets, a
browser's, a narrowing) on the same queue: it runs after the transaction commits, in the order
queued, and is dropped on rollback. Nothing reacts after a hand-made commit. What the live
layer does (disconnect, narrow, presence) reaches this module through `set_live_hooks`, which
app.live.rooms.install() calls at start-up: this module never imports the live layer.
"""
from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import event as sa_event
from sqlalchemy import inspect
from sqlalchemy.orm import Session

from app.extensions import db, socketio

log = logging.getLogger(__name__)
_KEY = "kring_events"
_held = threading.local()

# Key in the Flask session: the browser's live-session token (its sockets join session:<token>;
# its sign-out disconnects exactly them). Shared by the pages (app.views.chat) and the sockets.
SESSION_TOKEN = "_live"


def _nothing(*_args) -> None:
    return None


@dataclass
class LiveHooks:
    """What the live layer does for this module (app.live.rooms.install sets them)."""
    disconnect_user: Callable[[int], None] = _nothing
    disconnect_browser: Callable[[str], None] = _nothing
    narrow: Callable[[list], None] = _nothing
    presence: Callable[[str], dict] = lambda room: {"count": 0, "people": []}


hooks = LiveHooks()


def set_live_hooks(*, disconnect_user, disconnect_browser, narrow, presence) -> None:
    """Install the live layer's functions (called once at start-up by app.live.rooms.install).
    Returns nothing; until it is called, the reactions that need them do nothing."""
    hooks.disconnect_user = disconnect_user
    hooks.disconnect_browser = disconnect_browser
    hooks.narrow = narrow
    hooks.presence = presence


def presence_of(room: str) -> dict:
    """{count, people}: who is in the room now (the live layer's presence store). Raises what
    the store raises (Redis away)."""
    return hooks.presence(room)


def site_path(endpoint: str, **values) -> str:
    """A site path for `endpoint` that works inside and outside a request (jobs, CLI). Raises
    werkzeug's BuildError for an unknown endpoint."""
    return current_app.url_map.bind("localhost").build(endpoint, values)


def person(user) -> dict | None:
    """The display fields of a person in live payloads (None for None)."""
    if user is None:
        return None
    avatar = None
    if user.avatar_key:
        avatar = site_path("people.avatar", handle=user.handle, key=user.avatar_key.rsplit("/", 1)[-1])
    return {"id": user.id, "name": user.display_name, "handle": user.handle, "kind": user.kind.value,
            "initial": (user.display_name[:1] or "?").upper(), "avatar": avatar}


def _emit(name: str, payload: dict, room: str) -> None:
    try:
        socketio.emit(name, payload, to=room)
    except Exception:  # noqa: BLE001 - a live update must never break the committed action
        log.exception("could not emit %s to %s", name, room)


def _queue(item) -> None:
    session = db.session()
    if not session.in_transaction():
        session.begin()  # so a rollback before any SQL still drops it
    session.info.setdefault(_KEY, []).append(item)


def publish(name: str, payload: dict, room: str) -> None:
    """Emit `name` to `room` once the current transaction commits (never if it rolls back)."""
    _queue((name, payload, room))


def on_commit(fn: Callable[[], None]) -> None:
    """Run `fn()` once the current transaction commits, in order with the events queued in it
    (dropped if it rolls back). `fn` must not use the database session (it runs inside the
    commit); an exception it raises is logged, never raised: the commit stands."""
    _queue(fn)


def _run(fn) -> None:
    try:
        fn()
    except Exception:  # noqa: BLE001 - a reaction must never break the committed action
        log.exception("after-commit reaction %r failed", fn)


# --- narrowing: a change of who may read what takes effect on open sockets at commit --------
#
# Which committed changes can take away someone's right to be in a room: a community's
# visibility, a person's kind, staff flags or suspension (or their session version), a
# membership (new, gone, another role: moderators see hidden posts), a post moved, deleted,
# hidden or held. Each flush records the scope it touched; the commit re-checks the sockets in
# that scope in every server process before it returns (app.live.rooms.narrow) and only then
# sends the transaction's own events. Changes by bulk UPDATE statements are not seen here: the
# upkeep loop re-checks every socket once a minute as the safety net (app.live.manager).
_NARROW_KEY = "kring_narrow"
_WATCHED = {
    "communities": ("community", "id", {"visibility"}),
    "users": ("user", "id", {"kind", "is_admin", "is_global_manager", "is_management",
                             "suspended_until", "session_version"}),
    "memberships": ("user", "user_id", {"role", "user_id", "community_id"}),
    "posts": ("post", "id", {"community_id", "deleted_at", "hidden_at", "held_at"}),
}


def _scopes_of(session: Session) -> set[tuple[str, int]]:
    found: set[tuple[str, int]] = set()
    for obj in (*session.dirty, *session.deleted):  # a new row takes nothing away from anyone
        watched = _WATCHED.get(getattr(obj, "__tablename__", None))
        if watched is None:
            continue
        kind, key, columns = watched
        state = inspect(obj)
        if obj not in session.deleted and not any(state.attrs[c].history.has_changes() for c in columns):
            continue
        values = {getattr(obj, key, None)}
        if key == "user_id":  # a membership given to another person (never done, but cheap)
            values |= set(state.attrs.user_id.history.deleted or ())
        found |= {(kind, v) for v in values if isinstance(v, int)}
    return found


@sa_event.listens_for(Session, "before_flush")
def _before_flush(session: Session, flush_context, instances) -> None:
    scopes = _scopes_of(session)
    if scopes:
        session.info.setdefault(_NARROW_KEY, set()).update(scopes)


def narrowing_pending(session: Session) -> set[tuple[str, int]]:
    """The narrowing scopes the session's transaction will act on at commit (for tests)."""
    return set(session.info.get(_NARROW_KEY, ()))


@sa_event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    scopes = session.info.pop(_NARROW_KEY, None)
    if scopes:
        _run(lambda: hooks.narrow(sorted(scopes)))
    pending = session.info.pop(_KEY, None)
    held = getattr(_held, "items", None)
    for item in pending or ():
        if callable(item):
            _run(item)
        elif held is not None:
            held.append(item)
        else:
            _emit(*item)


@contextlib.contextmanager
def held():
    """Inside this block, events of committed transactions (of this thread) are collected in
    the yielded list instead of being sent; the caller sends them with `send_all` (the socket
    layer uses this to send a burst of messages together, app.live.guard)."""
    previous = getattr(_held, "items", None)
    _held.items = []
    try:
        yield _held.items
    finally:
        _held.items = previous


BATCH = "live.batch"


def send_all(items) -> None:
    """Send events collected by `held`, in order: one room's events as one `live.batch` when
    there are several (each socket then gets one frame, not one per event: in a burst of 200
    chat messages that is what the server's time goes to), a lone event as itself."""
    by_room: dict[str, list] = {}
    for name, payload, room in items:
        by_room.setdefault(room, []).append((name, payload))
    for room, events in by_room.items():
        if len(events) == 1:
            _emit(events[0][0], events[0][1], room)
        else:
            _emit(BATCH, {"room": room, "events": [[name, payload] for name, payload in events]}, room)


@sa_event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is None:  # the outermost transaction: drop what it queued
        session.info.pop(_KEY, None)
        session.info.pop(_NARROW_KEY, None)


def user_sessions_ended(user_id: int) -> None:
    """Signed out everywhere, suspended or banned: once the current transaction commits, tell
    and drop every socket of the person (nothing if it rolls back). Returns nothing."""
    publish("session.ended", {"user_id": user_id}, f"user:{user_id}")
    on_commit(lambda: hooks.disconnect_user(user_id))


def browser_signed_out(token: str | None) -> None:
    """One browser signed out: disconnect its sockets (session:<token>) in every process, now.
    A plain sign-out stores nothing (it clears the cookie session), so there is no commit to
    wait for; a sign-out that changes stored state queues `user_sessions_ended` in its
    transaction instead. Returns nothing; never raises."""
    if token:
        _run(lambda: hooks.disconnect_browser(token))


def member_removed(community_id: int, user_id: int) -> None:
    """A person was removed from a community: tell their open pages once the current
    transaction commits (the commit itself takes their sockets out of the rooms they may no
    longer read)."""
    publish("community.member_removed", {"community_id": community_id, "user_id": user_id}, f"user:{user_id}")


def signal(name: str, payload: dict, room: str, *, skip_sid: str | None = None) -> None:
    """Emit an ephemeral event (typing, presence) now: nothing is stored, nothing to wait for."""
    try:
        socketio.emit(name, payload, to=room, skip_sid=skip_sid)
    except Exception:  # noqa: BLE001
        log.exception("could not emit %s to %s", name, room)


# --- payload builders: the one-line hooks services call inside their transaction ----------

def _iso(moment) -> str | None:
    return moment.isoformat() + "Z" if moment else None


def post_created(post) -> None:
    """posts.create: the community page shows the new post without reload."""
    room = f"community:{post.community_id}"
    publish("post.created", {"room": room, "post_id": post.id, "community_id": post.community_id,
                             "kind": post.kind.value, "title": post.title,
                             "url": site_path("posts.show", post_id=post.id),
                             "author": person(post.author)}, room)


def _comment_payload(comment, post, room: str) -> dict:
    return {"room": room, "post_id": post.id, "comment_id": comment.id, "parent_id": comment.parent_id,
            "comment_count": post.comment_count}


def comment_added(comment, post) -> None:
    room = f"post:{post.id}"
    publish("comment.added", _comment_payload(comment, post, room), room)


def comment_updated(comment, post) -> None:
    """Edited or restored: open post pages fetch the comment again."""
    room = f"post:{post.id}"
    publish("comment.updated", _comment_payload(comment, post, room), room)


def comment_removed(comment, post, *, hidden: bool = False) -> None:
    """Deleted by its author or a moderator (hidden=True: hidden by moderation)."""
    room = f"post:{post.id}"
    publish("comment.hidden" if hidden else "comment.removed", _comment_payload(comment, post, room), room)


def idea_voted(post, voter_id: int, voted: bool) -> None:
    payload = {"post_id": post.id, "vote_count": post.vote_count, "voter_id": voter_id, "voted": voted}
    for room in (f"post:{post.id}", f"community:{post.community_id}"):
        publish("idea.voted", {"room": room, **payload}, room)


def idea_status_changed(post, change, actor) -> None:
    payload = {"post_id": post.id, "status": change.to_status.value, "status_label": change.to_status.label,
               "response_html": change.response_html, "actor": person(actor),
               "created_at": _iso(change.created_at), "duplicate_of_id": change.duplicate_of_id}
    for room in (f"post:{post.id}", f"community:{post.community_id}"):
        publish("idea.status_changed", {"room": room, **payload}, room)


def expert_assigned(community, topic, expert) -> None:
    """experts.assign: the community page tells who answers for a topic now."""
    room = f"community:{community.id}"
    publish("expert.assigned", {"room": room, "community_id": community.id, "topic_id": topic.id,
                                "topic": topic.name, "expert": person(expert)}, room)


def notification_created(note, unread: int) -> None:
    """notifications.create: the header count and the notification list of every open page."""
    publish("notification.created", {
        "unread": unread,
        "notification": {"id": note.id, "kind": note.kind, "text": note.text, "created_at": _iso(note.created_at),
                         "open_url": site_path("notifications.open_one", notification_id=note.id)}}, f"user:{note.user_id}")


def notifications_read(user_id: int, unread: int) -> None:
    publish("notification.read", {"unread": unread}, f"user:{user_id}")


def answer_accepted(post, comment_id: int | None, previous_id: int | None) -> None:
    """comments.accept / unaccept: open pages of the question re-fetch both answers (the mark
    and the accept buttons are rendered for each viewer)."""
    room = f"post:{post.id}"
    publish("answer.accepted", {"room": room, "post_id": post.id, "comment_id": comment_id,
                                "previous_id": previous_id}, room)
