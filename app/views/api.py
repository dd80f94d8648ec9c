"""JSON endpoints used by the pages' own scripts (live preview, @mention autocomplete).

Same services and access rules as the HTML pages; errors answer JSON.
"""
from __future__ import annotations

from flask import Blueprint, request
from flask_login import current_user, login_required

from app import inputs
from app.services import access
from app.services.content import mentions as mention_service
from app.services.platform import markup
from app.views.helpers import BadJSON, json_object

bp = Blueprint("api", __name__, url_prefix="/api")


@bp.before_request
@login_required
def _signed_in():
    """Every API call needs a signed-in person."""


@bp.post("/preview")
def preview():
    """Render markdown exactly as a post would show it. CSRF-protected like every POST."""
    try:
        data = json_object()
    except BadJSON as exc:
        return {"errors": {"body": str(exc)}}, 400
    text = request.form.get("body") or data.get("body") or ""
    if not isinstance(text, str):
        return {"errors": {"body": "The body must be a string."}}, 400
    problem = inputs.text_problem(text)
    if problem:
        return {"errors": {"body": problem}}, 400
    if len(text) > 20_000:
        return {"errors": {"body": "Use at most 20,000 characters."}}, 400
    return {"html": markup.to_html(text, embeds=True)}


@bp.get("/c/<slug>/mentions")
def mentions(slug: str):
    """People whose name or handle starts with ?q= and who may read the community (so a mention
    would reach them), visible to the viewer. At most 8."""
    acc = access.community_for(current_user, slug, "read")
    q = (request.args.get("q") or "").strip()[:40]
    if not q:
        return {"people": []}
    found = mention_service.candidates(current_user, acc.community, q, limit=8)
    return {"people": [{"handle": p.handle, "name": p.display_name, "kind": p.kind.value} for p in found]}
