"""The built-in document types and the changes that reach them.

Each type builds its index fields from the database in bulk (a constant number of queries per
batch; bodies come from the stored, sanitised HTML, so no markdown is rendered while indexing)
and answers only for rows that belong in the index (a deleted post is absent, so the indexer
removes it). Cascades keep copies right: a post that moved community or was deleted/restored
takes its comments along; a renamed person takes their posts and comments (which carry the
author's handle, kind and department); a renamed or deleted topic takes the posts and experts
filed under it; a deleted community takes everything in it.

Cascade answers are document ids ("comment:7") or index look-ups ("field=value", or
"type/field=value" limited to one type) that the indexer expands from the index itself.
"""
from __future__ import annotations

import html
import re
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta

from sqlalchemy import func, select

from app import models
from app.extensions import db
from app.models import (
    ChatMessage,
    Comment,
    Community,
    Department,
    ExpertAssignment,
    ExpertiseTag,
    Membership,
    Post,
    Topic,
    User,
    post_topics,
    user_expertise,
)
from app.search import registry
from app.search.registry import DocType

_TAG = re.compile(r"<[^>]+>")
_EPOCH = datetime(1970, 1, 1)


def plain(html_text: str | None) -> str:
    """Plain text of stored, sanitised HTML (tags dropped, entities decoded)."""
    return " ".join(html.unescape(_TAG.sub(" ", html_text or "")).split())


def day_number(moment: datetime | None) -> int:
    return (moment - _EPOCH).days if moment else 0


def seconds(moment: datetime | None) -> int:
    """Seconds since 1970 of a naive UTC datetime (the `created` sort column)."""
    return int((moment - _EPOCH).total_seconds()) if moment else 0


def moment(value: int) -> datetime:
    return _EPOCH + timedelta(seconds=int(value))


def _in_batches(stmt, size: int) -> Iterator[list[int]]:
    """Every id that `stmt` (a select of one integer column) returns, in ascending batches."""
    last = 0
    while True:
        column = stmt.selected_columns[0]
        ids = list(db.session.scalars(stmt.where(column > last).order_by(column).limit(size)))
        if not ids:
            return
        yield ids
        last = ids[-1]


def _value(enum_or_str) -> str:
    return getattr(enum_or_str, "value", enum_or_str) or ""


def _authors(ids: set[int]) -> dict[int, tuple]:
    if not ids:
        return {}
    rows = db.session.execute(select(User.id, User.handle, User.display_name, User.kind, User.department_id)
                              .where(User.id.in_(ids)))
    return {r[0]: r for r in rows}


def _author_fields(author) -> dict:
    if author is None:
        return {"author": "", "author_id": "", "author_kind": "", "department": ""}
    _id, handle, _name, kind, department_id = author
    return {"author": handle, "author_id": str(_id), "author_kind": _value(kind),
            "department": str(department_id or "")}


# --- posts --------------------------------------------------------------------------------

def _topics_of_posts(pks: list[int]) -> dict[int, list[tuple[int, str, str]]]:
    found: dict[int, list] = defaultdict(list)
    rows = db.session.execute(select(post_topics.c.post_id, Topic.id, Topic.name, Topic.slug)
                              .join(Topic, Topic.id == post_topics.c.topic_id)
                              .where(post_topics.c.post_id.in_(pks)))
    for post_id, topic_id, name, slug in rows:
        found[post_id].append((topic_id, name, slug))
    return found


def build_posts(pks: list[int]) -> dict[int, dict]:
    rows = db.session.execute(
        select(Post.id, Post.community_id, Post.title, Post.body_html, Post.kind, Post.status, Post.vote_count,
               Post.created_at, Post.author_id)
        .where(Post.id.in_(pks), Post.deleted_at.is_(None), Post.hidden_at.is_(None), Post.held_at.is_(None))).all()
    topics = _topics_of_posts([r[0] for r in rows]) if rows else {}
    authors = _authors({r[8] for r in rows if r[8]})
    docs = {}
    for pid, cid, title, body_html, kind, status, votes, created, author_id in rows:
        own = topics.get(pid, [])
        body = plain(body_html)
        topic_words = " ".join(f"{name} {slug.replace('-', ' ')}" for _i, name, slug in own)
        docs[pid] = {
            "id": f"post:{pid}", "type": "post", "community": str(cid), "post": str(pid),
            "title": title, "body": body, "topics": topic_words,
            "topic_ids": " ".join(str(i) for i, _n, _s in own),
            "kind": _value(kind), "status": _value(status), "created": seconds(created), "day": day_number(created),
            "votes": int(votes or 0), "spell": f"{title} {topic_words} {body}",
            **_author_fields(authors.get(author_id)),
        }
    return docs


def _post_cascade(old: dict | None, new: dict | None) -> list[str]:
    """A post that moved, or was deleted or restored, takes its comments along."""
    if (old or {}).get("community") == (new or {}).get("community"):
        return []
    pid = int(((new or old) or {})["post"])
    return [f"comment:{cid}" for cid in db.session.scalars(select(Comment.id).where(Comment.post_id == pid))]


# --- comments -----------------------------------------------------------------------------

def build_comments(pks: list[int]) -> dict[int, dict]:
    rows = db.session.execute(
        select(Comment.id, Comment.post_id, Comment.body_html, Comment.created_at, Comment.author_id,
               Post.community_id, Post.kind)
        .join(Post, Post.id == Comment.post_id)
        .where(Comment.id.in_(pks), Comment.deleted_at.is_(None), Post.deleted_at.is_(None),
               Comment.hidden_at.is_(None), Comment.held_at.is_(None), Post.hidden_at.is_(None),
               Post.held_at.is_(None))).all()
    authors = _authors({r[4] for r in rows if r[4]})
    return {cid: {
        "id": f"comment:{cid}", "type": "comment", "community": str(community_id), "post": str(post_id),
        "body": (body := plain(body_html)), "spell": body, "created": seconds(created), "day": day_number(created),
        "votes": 0, **_author_fields(authors.get(author_id)),
    } for cid, post_id, body_html, created, author_id, community_id, _kind in rows}


# --- people -------------------------------------------------------------------------------

def build_people(pks: list[int]) -> dict[int, dict]:
    rows = db.session.execute(
        select(User.id, User.display_name, User.handle, User.kind, User.department_id, Department.name,
               User.job_title, User.organisation, User.bio, User.languages, User.created_at)
        .outerjoin(Department, Department.id == User.department_id).where(User.id.in_(pks))).all()
    tags: dict[int, list[str]] = defaultdict(list)
    for user_id, name in db.session.execute(
            select(user_expertise.c.user_id, func.lower(ExpertiseTag.name))
            .join(ExpertiseTag, ExpertiseTag.id == user_expertise.c.tag_id)
            .where(user_expertise.c.user_id.in_(pks))):
        tags[user_id].append(name)
    members: dict[int, list[str]] = defaultdict(list)
    for user_id, community_id in db.session.execute(
            select(Membership.user_id, Membership.community_id).where(Membership.user_id.in_(pks))):
        members[user_id].append(str(community_id))
    docs = {}
    for uid, name, handle, kind, dept_id, dept, job, org, bio, languages, created in rows:
        # only what the profile shows to whoever may see the person: the topics someone is an
        # expert of live in their communities, so they are documents of their own ("expert")
        docs[uid] = {
            "id": f"person:{uid}", "type": "person", "title": f"{name} {handle}",
            "body": " ".join(x for x in (job, dept, org, bio, languages) if x),
            "expertise": " ".join(tags.get(uid, [])),
            "author": handle, "author_id": str(uid), "author_kind": _value(kind), "department": str(dept_id or ""),
            "members": " ".join(members.get(uid, [])), "created": seconds(created), "day": day_number(created), "votes": 0,
            "spell": f"{name} {' '.join(tags.get(uid, []))}",
            "sig": f"{handle}|{name}|{_value(kind)}|{dept_id or ''}",
        }
    return docs


def _person_cascade(old: dict | None, new: dict | None) -> list[str]:
    """Posts, comments and messages copy their author's handle, kind and department."""
    if old is None or (new is not None and old.get("sig") == new.get("sig")):
        return []
    uid = int((new or old)["author_id"])
    out = [f"post:{i}" for i in db.session.scalars(select(Post.id).where(Post.author_id == uid))]
    out += [f"comment:{i}" for i in db.session.scalars(select(Comment.id).where(Comment.author_id == uid))]
    chat = getattr(models, "ChatMessage", None)
    if chat is not None:
        out += [f"message:{i}" for i in db.session.scalars(select(chat.id).where(chat.author_id == uid))]
    expert = getattr(models, "ExpertAssignment", None)
    if expert is not None:
        out += [f"expert:{i}" for i in db.session.scalars(select(expert.id).where(expert.user_id == uid))]
    return out


# --- communities and topics ---------------------------------------------------------------

def build_communities(pks: list[int]) -> dict[int, dict]:
    rows = db.session.execute(select(Community.id, Community.name, Community.slug, Community.description,
                                     Community.created_at).where(Community.id.in_(pks))).all()
    return {cid: {"id": f"community:{cid}", "type": "community", "community": str(cid),
                  "title": f"{name} {slug.replace('-', ' ')}", "body": description or "", "created": seconds(created),
                  "day": day_number(created), "votes": 0, "spell": name}
            for cid, name, slug, description, created in rows}


def _community_cascade(old: dict | None, new: dict | None) -> list[str]:
    """A community that is gone takes everything in it."""
    if old is not None and new is None:
        return [f"community={old['community']}"]
    return []


def build_topics(pks: list[int]) -> dict[int, dict]:
    rows = db.session.execute(select(Topic.id, Topic.community_id, Topic.name, Topic.slug, Topic.description,
                                     Topic.created_at).where(Topic.id.in_(pks))).all()
    return {tid: {"id": f"topic:{tid}", "type": "topic", "community": str(cid), "title": name,
                  "topics": f"{name} {slug.replace('-', ' ')}", "topic_ids": str(tid), "body": description or "",
                  "created": seconds(created), "day": day_number(created), "votes": 0, "spell": name,
                  "sig": f"{name}|{slug}|{cid}"}
            for tid, cid, name, slug, description, created in rows}


def _topic_cascade(old: dict | None, new: dict | None) -> list[str]:
    """Posts and experts carry their topics' names: a rename or deletion reaches them."""
    if old is None or (new is not None and old.get("sig") == new.get("sig")):
        return []
    tid = (new or old)["id"].split(":")[1]
    return [f"post/topic_ids={tid}", f"expert/topic_ids={tid}"]


# --- chat messages (the live feature) -----------------------------------------------------

def build_messages(pks: list[int]) -> dict[int, dict]:
    rows = db.session.execute(select(ChatMessage.id, ChatMessage.community_id, ChatMessage.body_html,
                                     ChatMessage.created_at, ChatMessage.author_id)
                              .where(ChatMessage.id.in_(pks), ChatMessage.deleted_at.is_(None),
                                     ChatMessage.hidden_at.is_(None))).all()
    authors = _authors({r[4] for r in rows if r[4]})
    return {mid: {"id": f"message:{mid}", "type": "message", "community": str(cid),
                  "body": (body := plain(body_html)), "spell": body, "created": seconds(created), "day": day_number(created), "votes": 0,
                  **_author_fields(authors.get(author_id))}
            for mid, cid, body_html, created, author_id in rows}


# --- experts of topics ----------------------------------------------------------------------

def build_experts(pks: list[int]) -> dict[int, dict]:
    """One document per current expert assignment: the person, the topic and the manager's
    note. It lives in the topic's community (the "content" rule), as the topic page that lists
    the experts does: who may not read the community finds neither the topic nor its experts
    (a person's own document carries no expert topics)."""
    rows = db.session.execute(
        select(ExpertAssignment.id, ExpertAssignment.user_id, ExpertAssignment.note, ExpertAssignment.assigned_at,
               Topic.id, Topic.community_id, Topic.name, Topic.slug, User.display_name)
        .join(Topic, Topic.id == ExpertAssignment.topic_id).join(User, User.id == ExpertAssignment.user_id)
        .where(ExpertAssignment.id.in_(pks), ExpertAssignment.removed_at.is_(None))).all()
    authors = _authors({r[1] for r in rows})
    docs = {}
    for aid, uid, note, assigned, tid, cid, topic, slug, name in rows:
        author = authors.get(uid)
        docs[aid] = {
            "id": f"expert:{aid}", "type": "expert", "community": str(cid),
            "title": f"{name} {author[1] if author else ''}".strip(), "body": note or "",
            "topics": f"{topic} {slug.replace('-', ' ')}", "topic_ids": str(tid), "expertise": topic,
            "created": seconds(assigned), "day": day_number(assigned), "votes": 0, "spell": f"{name} {topic}",
            **_author_fields(author),
        }
    return docs


# --- registration -------------------------------------------------------------------------

def _register() -> None:
    registry.document_type(DocType("post", "Posts", "content", build_posts,
                                   lambda size: _in_batches(select(Post.id).where(Post.deleted_at.is_(None)), size),
                                   cascade=_post_cascade, order=10))
    registry.document_type(DocType("comment", "Comments", "content", build_comments,
                                   lambda size: _in_batches(select(Comment.id).where(Comment.deleted_at.is_(None)), size),
                                   order=20))
    registry.document_type(DocType("person", "People", "person", build_people,
                                   lambda size: _in_batches(select(User.id), size), cascade=_person_cascade, order=40))
    registry.document_type(DocType("community", "Communities", "community", build_communities,
                                   lambda size: _in_batches(select(Community.id), size),
                                   cascade=_community_cascade, order=50))
    registry.document_type(DocType("topic", "Topics", "content", build_topics,
                                   lambda size: _in_batches(select(Topic.id), size), cascade=_topic_cascade, order=60))

    registry.track(Post, lambda p: [f"post:{p.id}"], bulk=(Post.id, "post"),
                   fields={"title", "body", "body_html", "kind", "status", "community_id", "author_id",
                           "deleted_at", "topics", "vote_count", "created_at", "hidden_at", "held_at"})
    registry.track(Comment, lambda c: [f"comment:{c.id}"], bulk=(Comment.id, "comment"),
                   fields={"body", "body_html", "post_id", "author_id", "deleted_at", "hidden_at", "held_at"})
    registry.track(User, lambda u: [f"person:{u.id}"], bulk=(User.id, "person"),
                   fields={"display_name", "handle", "kind", "department_id", "job_title", "organisation", "bio",
                           "languages", "expertise"})
    registry.track(Membership, lambda m: [f"person:{m.user_id}"], bulk=(Membership.user_id, "person"),
                   fields={"community_id", "user_id"})
    registry.track(Community, lambda c: [f"community:{c.id}"], bulk=(Community.id, "community"),
                   fields={"name", "slug", "description"})
    registry.track(Topic, lambda t: [f"topic:{t.id}"], bulk=(Topic.id, "topic"),
                   fields={"name", "slug", "description", "community_id"})
    registry.track(Department, lambda d: [f"person/department={d.id}"], fields={"name"})

    expert_model = getattr(models, "ExpertAssignment", None)
    if expert_model is not None:
        registry.document_type(DocType(
            "expert", "Experts", "content", build_experts,
            lambda size: _in_batches(select(expert_model.id).where(expert_model.removed_at.is_(None)), size),
            order=45))
        registry.track(expert_model, lambda a: [f"expert:{a.id}"], bulk=(expert_model.id, "expert"),
                       fields={"topic_id", "user_id", "removed_at", "note"})
    chat_model = getattr(models, "ChatMessage", None)
    if chat_model is not None:
        registry.document_type(DocType(
            "message", "Chat", "content", build_messages,
            lambda size: _in_batches(select(chat_model.id).where(chat_model.deleted_at.is_(None)), size), order=30))
        registry.track(chat_model, lambda m: [f"message:{m.id}"], bulk=(chat_model.id, "message"),
                       fields={"body", "body_html", "deleted_at", "community_id", "author_id", "hidden_at"})


_register()
