"""Shared helpers for tests that are not fixtures: reload a row, find a topic, sign in through
the form. Factories (rows built through the services) live in conftest's `make` fixture."""
from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import Notification, Topic
from tests.conftest import PASSWORD, post


def fresh(obj):
    """Return `obj`'s row (a User, Community, Post...) loaded in the current session, or None
    when it is gone. Needs an app context; raises nothing else."""
    return db.session.get(type(obj), obj.id)


def topic_of(community, name: str | None = None) -> Topic | None:
    """Return the community's topic called `name`, or its first topic (lowest id) without a
    name; None when there is none. Needs an app context."""
    stmt = select(Topic).where(Topic.community_id == community.id)
    if name is not None:
        stmt = stmt.where(Topic.name == name)
    return db.session.scalar(stmt.order_by(Topic.id))


def sign_in_form(client, email: str, password: str = PASSWORD, **extra):
    """Return the response to the sign-in form posted with `email`, `password` and `extra`
    fields (with a valid CSRF token)."""
    return post(client, "/signin", {"email": email, "password": password, **extra})


def is_signed_in(client) -> bool:
    """Return True when `client`'s session is signed in (its account page answers 200)."""
    return client.get("/account").status_code == 200


def notes_of(user, kind: str | None = None, post=None) -> list[Notification]:
    """Return `user`'s notifications, only those of `kind` and about `post` when given.
    Needs an app context."""
    stmt = select(Notification).where(Notification.user_id == user.id)
    if kind:
        stmt = stmt.where(Notification.kind == kind)
    if post is not None:
        stmt = stmt.where(Notification.post_id == post.id)
    return list(db.session.scalars(stmt))
