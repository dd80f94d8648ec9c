"""The start page: a landing page for visitors, the person's communities once signed in."""
from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user
from sqlalchemy import text

from app.extensions import db
from app.services.community import communities
from app.services.content import asks, posts

bp = Blueprint("main", __name__)


@bp.get("/")
def home():
    if not current_user.is_authenticated:
        return render_template("main/landing.html")

    cards = communities.list_for(current_user)
    mine = [c for c in cards if c.membership]
    others = [c for c in cards if not c.membership and c.can_read][:6]
    page = posts.home_feed(current_user)

    waiting = asks.waiting_for(current_user, limit=6)  # posts people asked them to answer
    return render_template("main/home.html", mine=mine, others=others, page=page, waiting=waiting[:5],
                           more_waiting=len(waiting) > 5)


@bp.get("/healthz")
def healthz():
    db.session.execute(text("SELECT 1"))
    return {"status": "ok"}
